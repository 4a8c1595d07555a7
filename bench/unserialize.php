<?php
// PHP's native unserialize() over the same files larq's parse_throughput reads, for 2 s per group
// (the same grouping: corpus *.json, one group per *.job.ser, synthetic for other *.ser).
// Classes are not loaded, so objects become __PHP_Incomplete_Class (PHP still builds every value).
// The serialized command of a payload file; null for encrypted commands and string payloads
// (larq's side skips the same files).
function command_bytes(string $raw): ?string {
    if ($raw === '' || $raw[0] !== '{') return $raw;
    $j = json_decode($raw, true);
    $cmd = $j['data']['command'] ?? null;
    return (is_string($cmd) && strncmp($cmd, 'O:', 2) === 0) ? $cmd : null;
}
// Enum cases cannot be incomplete classes: declare every enum the inputs mention (pure enums with
// the cases used), so unserialize() builds them like the real app would.
function declare_enums(array $inputs): void {
    static $declared = [];
    $cases = [];
    foreach ($inputs as $in) {
        preg_match_all('/E:\d+:"([^":]+):([^"]+)";/', $in, $m, PREG_SET_ORDER);
        foreach ($m as [, $class, $case]) $cases[$class][$case] = true;
    }
    foreach ($cases as $class => $names) {
        if (isset($declared[$class])) continue;
        $declared[$class] = true;
        $pos = strrpos($class, '\\');
        $ns = $pos === false ? '' : substr($class, 0, $pos);
        $short = $pos === false ? $class : substr($class, $pos + 1);
        $body = implode(' ', array_map(fn($c) => "case $c;", array_keys($names)));
        eval(($ns !== '' ? "namespace $ns; " : '') . "enum $short { $body }");
    }
}
function group_of(string $f): string {
    if (substr($f, -5) === '.json') return 'corpus';
    if (substr($f, -8) === '.job.ser') return 'job-' . basename($f, '.job.ser');
    return 'synthetic';
}
// Legacy `C:` objects need their class (an incomplete class cannot take `C:` data, and PHP would
// print a warning per call, timing the warning instead): declare a stub that keeps the data.
function declare_serializables(array $inputs): void {
    static $declared = [];
    foreach ($inputs as $in) {
        preg_match_all('/C:\d+:"([^"]+)":/', $in, $m);
        foreach ($m[1] as $class) {
            if (isset($declared[$class]) || class_exists($class, false)) continue;
            $declared[$class] = true;
            $pos = strrpos($class, '\\');
            $ns = $pos === false ? '' : substr($class, 0, $pos);
            $short = $pos === false ? $class : substr($class, $pos + 1);
            eval(($ns !== '' ? "namespace $ns; " : '') . "class $short implements \\Serializable {
                public \$data;
                public function serialize() { return \$this->data; }
                public function unserialize(\$d) { \$this->data = \$d; }
                public function __serialize(): array { return [\$this->data]; }
                public function __unserialize(array \$a): void { \$this->data = \$a[0]; }
            }");
        }
    }
}
$groups = [];
foreach (array_slice($argv, 1) as $f) {
    $cmd = command_bytes(file_get_contents($f));
    if ($cmd !== null) $groups[group_of($f)][] = $cmd;
}
foreach ($groups as $group => $inputs) {
    declare_enums($inputs);
    declare_serializables($inputs);
    $total = array_sum(array_map('strlen', $inputs));
    $rounds = 0;
    $cpu = function (): float {
        $r = getrusage();
        return $r['ru_utime.tv_sec'] + $r['ru_utime.tv_usec'] / 1e6 + $r['ru_stime.tv_sec'] + $r['ru_stime.tv_usec'] / 1e6;
    };
    $start = hrtime(true);
    $cpu_start = $cpu();
    while (hrtime(true) - $start < 2e9) {
        foreach ($inputs as $in) {
            $v = unserialize($in);
            if ($v === false && $in !== 'b:0;') { fwrite(STDERR, "unserialize failed\n"); exit(1); }
        }
        $rounds++;
    }
    $wall = (hrtime(true) - $start) / 1e9;
    $cpu_secs = $cpu() - $cpu_start;
    printf("php %s: %d inputs, %d bytes, %d rounds, wall %.1f MB/s, cpu %.1f MB/s\n", $group, count($inputs), $total, $rounds,
        $total * $rounds / $wall / 1e6, $total * $rounds / $cpu_secs / 1e6);
}
