<?php

namespace App\Providers;

use Illuminate\Cache\RateLimiting\Limit;
use Illuminate\Support\Facades\RateLimiter;
use Illuminate\Support\ServiceProvider;

class AppServiceProvider extends ServiceProvider
{
    public function register()
    {
        // The SQLite file is created on demand (its directory must exist), only when SQLite is the
        // default connection: on PostgreSQL/MariaDB DB_DATABASE is a database name, not a path.
        if ($this->app['config']->get('database.default') !== 'sqlite') {
            return;
        }
        $path = $this->app['config']->get('database.connections.sqlite.database');
        if (is_string($path) && $path !== ':memory:' && ! file_exists($path) && is_dir(dirname($path))) {
            touch($path);
        }
    }

    public function boot()
    {
        // App\Jobs\LimitedJob's limiter: larq registers the same rule on its side.
        RateLimiter::for('larq-fixture', function ($job) {
            return Limit::perMinute((int) (getenv('LARQ_FIXTURE_LIMIT') ?: 3));
        });

        // The queue events a worker raises, one line each ("<Event> <job display name>", or
        // "WorkerStopping <status>"), for tests/integration/laravel_events.rs to compare with
        // what larq tells its observers.
        $file = getenv('LARQ_EVENTS_FILE');
        if (is_string($file) && $file !== '') {
            $write = function (string $line) use ($file) {
                file_put_contents($file, $line."\n", FILE_APPEND | LOCK_EX);
            };
            $jobEvents = [
                \Illuminate\Queue\Events\JobProcessing::class,
                \Illuminate\Queue\Events\JobProcessed::class,
                \Illuminate\Queue\Events\JobExceptionOccurred::class,
                \Illuminate\Queue\Events\JobFailed::class,
                'Illuminate\\Queue\\Events\\JobReleasedAfterException', // 9+
            ];
            foreach ($jobEvents as $class) {
                if (class_exists($class)) {
                    \Illuminate\Support\Facades\Event::listen($class, function ($event) use ($write, $class) {
                        $write(class_basename($class).' '.$event->job->resolveName());
                    });
                }
            }
            \Illuminate\Support\Facades\Event::listen(\Illuminate\Queue\Events\WorkerStopping::class, function ($event) use ($write) {
                $write('WorkerStopping '.$event->status);
            });
        }
    }
}
