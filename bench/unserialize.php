<?php
// PHP's native unserialize() over the same files larq's parse_throughput reads, for 2 s per group
// (the same grouping: corpus *.json, one group per *.job.ser, synthetic for other *.ser).
// Classes are not loaded, so objects become __PHP_Incomplete_Class (PHP still builds every value).
function command_bytes(string $raw): string {
    if ($raw !== '' && $raw[0] === '{') {
        $j = json_decode($raw, true);
        if (is_array($j) && isset($j['data']['command']) && is_string($j['data']['command'])) {
            return $j['data']['command'];
        }
    }
    return $raw;
}
function group_of(string $f): string {
    if (substr($f, -5) === '.json') return 'corpus';
    if (substr($f, -8) === '.job.ser') return 'job-' . basename($f, '.job.ser');
    return 'synthetic';
}
$groups = [];
foreach (array_slice($argv, 1) as $f) {
    $groups[group_of($f)][] = command_bytes(file_get_contents($f));
}
foreach ($groups as $group => $inputs) {
    $total = array_sum(array_map('strlen', $inputs));
    $rounds = 0;
    $start = hrtime(true);
    while (hrtime(true) - $start < 2e9) {
        foreach ($inputs as $in) {
            $v = unserialize($in);
            if ($v === false && $in !== 'b:0;') { fwrite(STDERR, "unserialize failed\n"); exit(1); }
        }
        $rounds++;
    }
    $secs = (hrtime(true) - $start) / 1e9;
    printf("php %s: %d inputs, %d bytes, %d rounds, %.1f MB/s\n", $group, count($inputs), $total, $rounds, $total * $rounds / $secs / 1e6);
}
