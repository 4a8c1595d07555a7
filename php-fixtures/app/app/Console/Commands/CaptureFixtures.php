<?php

namespace App\Console\Commands;

use App\Support\Shapes;
use App\Support\ValueTree;
use Illuminate\Console\Command;
use Illuminate\Contracts\Queue\ShouldBeEncrypted;
use Illuminate\Queue\Events\JobQueued;
use Illuminate\Support\Facades\DB;
use Illuminate\Support\Facades\Event;

/**
 * Dispatches every shape of App\Support\Shapes through Laravel and writes, per stored payload:
 *   <out>/<name>.json         the payload bytes exactly as stored (Redis LRANGE/ZRANGE member or
 *                             the sqlite jobs.payload column);
 *   <out>/<name>.expect.json  {"displayName","commandName","command"[,"encrypted"]} computed from
 *                             the live job object (ValueTree walk), never from the bytes.
 * The walker's result is also written back to serialize() text and compared with the stored
 * command; on a mismatch no expectation is written and the manifest says so.
 *
 * It FLUSHALLs the Redis server it is pointed at and empties the sqlite jobs table: only run it
 * against a private redis-server (the php-fixtures/capture script starts one).
 */
class CaptureFixtures extends Command
{
    protected $signature = 'fixtures:capture {outdir} {--only=* : capture only these shape names}';

    protected $description = 'Capture the payload corpus (FLUSHALLs Redis: private server only)';

    public function handle()
    {
        SetupDatabase::ensure();
        $out = rtrim($this->argument('outdir'), '/');
        if (! is_dir($out)) {
            mkdir($out, 0777, true);
        }
        $only = $this->option('only');
        if (! $only) {
            foreach (glob($out.'/*.json') as $old) {
                unlink($old);
            }
        }

        $redis = new \Redis();
        $redis->connect(config('database.redis.default.host'), (int) config('database.redis.default.port'));

        $events = [];
        Event::listen(JobQueued::class, function (JobQueued $e) use (&$events) {
            $events[] = [
                'connection' => $e->connectionName,
                'id' => $e->id,
                'job' => $e->job,
                'tree' => is_object($e->job) ? ValueTree::of($e->job) : null,
            ];
        });

        $manifest = [];
        $failures = 0;
        foreach (Shapes::all() as $shape => $def) {
            if ($only && ! in_array($shape, $only, true)) {
                continue;
            }
            $redis->flushAll();
            DB::connection('sqlite')->table('jobs')->delete();
            $events = [];
            $pre = [];
            $keep = [];
            $expect = function (object $job) use (&$pre, &$keep) {
                $keep[] = $job;
                $pre[spl_object_id($job)] = ValueTree::of($job);
            };
            ($def['run'])($expect);

            $stored = $this->storedPayloads($redis);
            if (count($events) === 0) {
                $this->error("$shape: nothing was queued");
                $failures++;
                continue;
            }
            foreach ($events as $i => $ev) {
                $name = count($events) === 1 ? $shape : $shape.'_'.$i;
                $raw = null;
                foreach ($stored as $s) {
                    if ($s['driver'] === ($ev['connection'] === 'database' ? 'database' : 'redis') && (string) $s['id'] === (string) $ev['id']) {
                        $raw = $s;
                        break;
                    }
                }
                if ($raw === null) {
                    $this->error("$name: payload with id {$ev['id']} not found in storage");
                    $failures++;
                    continue;
                }
                file_put_contents("$out/$name.json", $raw['bytes']);
                [$expectation, $note] = $this->expectation($ev, $pre, $raw['bytes']);
                if ($expectation !== null) {
                    file_put_contents("$out/$name.expect.json", ValueTree::json($expectation)."\n");
                } else {
                    $failures++;
                }
                $manifest[] = [$name, $shape, $raw['where'], $def['about'], $def['how'], $note];
                $this->line(sprintf('%-26s %-40s %s', $name, $raw['where'], $note));
            }
        }
        if (! $only) {
            $this->writeManifest($out, $manifest);
        }

        return $failures === 0 ? 0 : 1;
    }

    /** Every payload currently stored: Redis queue lists/zsets (raw bytes) and sqlite jobs rows. */
    private function storedPayloads(\Redis $redis): array
    {
        $found = [];
        $keys = $redis->keys('*queues:*');
        sort($keys);
        foreach ($keys as $key) {
            if (substr($key, -7) === ':notify') {
                continue;
            }
            $type = $redis->type($key);
            if ($type === \Redis::REDIS_LIST) {
                $members = $redis->lRange($key, 0, -1);
                $how = 'LRANGE';
            } elseif ($type === \Redis::REDIS_ZSET) {
                $members = $redis->zRange($key, 0, -1);
                $how = 'ZRANGE';
            } else {
                continue;
            }
            foreach ($members as $bytes) {
                $decoded = json_decode($bytes, true);
                $found[] = ['driver' => 'redis', 'id' => $decoded['id'] ?? null, 'bytes' => $bytes, 'where' => "$how $key"];
            }
        }
        $rows = DB::connection('sqlite')->getPdo()->query('select id, queue, payload from jobs order by id')->fetchAll(\PDO::FETCH_ASSOC);
        foreach ($rows as $row) {
            $found[] = ['driver' => 'database', 'id' => $row['id'], 'bytes' => $row['payload'], 'where' => "sqlite jobs.payload (queue {$row['queue']})"];
        }

        return $found;
    }

    /** @return array{0: ?array, 1: string} */
    private function expectation(array $ev, array $pre, string $bytes): array
    {
        $job = $ev['job'];
        if (is_string($job)) {
            return [[
                'displayName' => explode('@', $job)[0],
                'job' => $job,
            ], 'string payload: displayName/job only (no command)'];
        }
        $fromPre = isset($pre[spl_object_id($job)]);
        $tree = $fromPre ? $pre[spl_object_id($job)] : $ev['tree'];
        if ($fromPre && $tree !== $ev['tree']) {
            return [null, 'NO EXPECTATION: the object changed between construction and JobQueued'];
        }
        $encrypted = $job instanceof ShouldBeEncrypted || ! empty($job->shouldBeEncrypted);
        $expectation = [
            'displayName' => method_exists($job, 'displayName') ? $job->displayName() : get_class($job),
            'commandName' => get_class($job),
            'command' => $tree,
        ];
        if ($encrypted) {
            $expectation['encrypted'] = true;
        }

        // Self-check of the walker against what Laravel stored.
        $payload = json_decode($bytes, true);
        $command = $payload['data']['command'];
        if (strncmp($command, 'O:', 2) !== 0) {
            $command = app('encrypter')->decrypt($command);
        }
        if (ValueTree::write($tree) !== $command) {
            return [null, 'NO EXPECTATION: the walked tree does not reproduce the stored command'];
        }

        return [$expectation, 'expectation from the live object '.($fromPre ? 'before dispatch' : 'at JobQueued').($encrypted ? ' (decrypted inner object)' : '')];
    }

    private function writeManifest(string $out, array $rows): void
    {
        $md = "# Corpus manifest\n\nWritten by `php artisan fixtures:capture` (run through `php-fixtures/capture`). "
            ."Each `<name>.json` is a payload exactly as Laravel ".\Illuminate\Foundation\Application::VERSION." stored it; `<name>.expect.json` was computed "
            ."by PHP from the live job object (see php-fixtures/README.md).\n\n"
            ."| fixture | shape | read from | what it is | how produced | expectation |\n|---|---|---|---|---|---|\n";
        foreach ($rows as $r) {
            $md .= '| '.implode(' | ', array_map(fn ($c) => str_replace('|', '\\|', $c), $r))." |\n";
        }
        file_put_contents("$out/MANIFEST.md", $md);
    }
}
