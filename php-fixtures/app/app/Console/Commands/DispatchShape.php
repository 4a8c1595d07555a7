<?php

namespace App\Console\Commands;

use App\Jobs;
use App\Support\Shapes;
use Illuminate\Console\Command;
use Illuminate\Queue\Events\JobQueued;
use Illuminate\Queue\Queue as BaseQueue;
use Illuminate\Support\Facades\DB;
use Illuminate\Support\Facades\Event;

/**
 * Dispatches jobs through Laravel for the Rust live tests. Prints one JSON line per queued job:
 * {"shape","connection","queue","id","uuid","displayName"}.
 *
 *   php artisan larq:dispatch SomeJob --count=1000 --user-id=1 --increment --param=hello
 *   php artisan larq:dispatch EchoJob --props='{"int":1,"nested":{"a":[1,2]}}'
 *   php artisan larq:dispatch FailingJob --n=3 --tries=2 --backoff=1,2
 *   php artisan larq:dispatch SleepJob --seconds=5
 *   php artisan larq:dispatch SomeJob --count=10000 --connection=database --transaction
 *   php artisan larq:dispatch <corpus shape name, e.g. chain, encrypted_job, listener> [--count=N]
 *   php artisan larq:dispatch SomeJob --count=100 --connection=rabbitmq --vhost=larq-test --queue=work
 *   php artisan larq:dispatch batch --connection=rabbitmq
 *
 * A job published without a JobQueued event (a batch on the rabbitmq connection: its bulk()
 * publishes without events, as laravel-queue-rabbitmq's does) is printed at the end with "id": null.
 */
class DispatchShape extends Command
{
    protected $signature = 'larq:dispatch {shape : SomeJob, EchoJob, FailingJob, SleepJob or a corpus shape name}
        {--count=1 : how many to dispatch}
        {--user-id=1 : SomeJob userId}
        {--increment : SomeJob: userId = user-id + index (0-based)}
        {--param=hello : SomeJob someParam}
        {--props= : EchoJob: JSON object of property values}
        {--n=1 : FailingJob n (message "boom <n>")}
        {--tries= : FailingJob $tries}
        {--backoff= : FailingJob $backoff, e.g. 0 or 1,2}
        {--seconds=1 : SleepJob seconds}
        {--connection= : onConnection() for the class shapes; for a corpus shape, the default connection while it runs}
        {--vhost= : the rabbitmq connection\'s vhost (instead of RABBITMQ_VHOST)}
        {--queue= : onQueue() for the class shapes}
        {--delay= : delay() in seconds for the class shapes}
        {--transaction : all pushes in one transaction of the database queue\'s connection (one commit for N rows, as a bulk dispatch in DB::transaction)}';

    protected $description = 'Dispatch N jobs of a named shape through Laravel (for live tests)';

    public function handle()
    {
        SetupDatabase::ensure();
        $shape = $this->argument('shape');
        $count = max(0, (int) $this->option('count'));

        $pending = [];
        BaseQueue::createPayloadUsing(function ($connection, $queue, $payload) use (&$pending) {
            $pending[] = ['queue' => preg_replace('/^queues:/', '', (string) $queue), 'uuid' => $payload['uuid'] ?? null, 'displayName' => $payload['displayName'] ?? null];

            return [];
        });
        Event::listen(JobQueued::class, function (JobQueued $e) use (&$pending, $shape) {
            $p = array_shift($pending) ?? [];
            $this->output->writeln(json_encode([
                'shape' => $shape,
                'connection' => $e->connectionName,
                'queue' => $p['queue'] ?? null,
                'id' => $e->id,
                'uuid' => $p['uuid'] ?? null,
                'displayName' => $p['displayName'] ?? null,
            ], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE));
        });

        if ($this->option('vhost') !== null) {
            $hosts = config('queue.connections.rabbitmq.hosts', []);
            foreach ($hosts as $i => $host) {
                $hosts[$i]['vhost'] = $this->option('vhost');
            }
            config(['queue.connections.rabbitmq.hosts' => $hosts]);
        }
        $shapes = Shapes::all();
        if ($this->option('connection') !== null && isset($shapes[$shape])) {
            config(['queue.default' => $this->option('connection')]);
        }
        // One commit for the whole run: on PostgreSQL and MariaDB each autocommitted insert waits
        // for its own fsync (10,000 jobs: ~34 s instead of a few).
        $tx = $this->option('transaction') ? DB::connection(config('queue.connections.database.connection')) : null;
        if ($tx !== null) {
            $tx->beginTransaction();
        }
        for ($i = 0; $i < $count; $i++) {
            $job = $this->classJob($shape, $i);
            if ($job !== null) {
                if ($this->option('connection') !== null) {
                    $job->onConnection($this->option('connection'));
                }
                if ($this->option('queue') !== null) {
                    $job->onQueue($this->option('queue'));
                }
                if ($this->option('delay') !== null) {
                    $job->delay((int) $this->option('delay'));
                }
                dispatch($job);
            } elseif (isset($shapes[$shape])) {
                ($shapes[$shape]['run'])(function () {
                });
            } else {
                $this->error("unknown shape $shape; known: SomeJob, EchoJob, FailingJob, SleepJob, ".implode(', ', array_keys($shapes)));

                return 2;
            }
        }
        if ($tx !== null) {
            $tx->commit();
        }
        BaseQueue::createPayloadUsing(null);
        foreach ($pending as $p) {
            $this->output->writeln(json_encode([
                'shape' => $shape,
                'connection' => config('queue.default'),
                'queue' => ($p['queue'] ?? '') !== '' ? $p['queue'] : null,
                'id' => null,
                'uuid' => $p['uuid'] ?? null,
                'displayName' => $p['displayName'] ?? null,
            ], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE));
        }

        return 0;
    }

    private function classJob(string $shape, int $i): ?object
    {
        switch ($shape) {
            case 'SomeJob':
                $id = (int) $this->option('user-id') + ($this->option('increment') ? $i : 0);

                return new Jobs\SomeJob($id, (string) $this->option('param'));
            case 'EchoJob':
                $props = $this->option('props') !== null ? json_decode($this->option('props'), true, 512, JSON_THROW_ON_ERROR) : [];

                return new Jobs\EchoJob($props);
            case 'FailingJob':
                $backoff = $this->option('backoff');
                if ($backoff !== null) {
                    $backoff = strpos($backoff, ',') !== false ? array_map('intval', explode(',', $backoff)) : (int) $backoff;
                }

                return new Jobs\FailingJob((int) $this->option('n'), $this->option('tries') !== null ? (int) $this->option('tries') : null, $backoff);
            case 'SleepJob':
                return new Jobs\SleepJob((int) $this->option('seconds'));
        }

        return null;
    }
}
