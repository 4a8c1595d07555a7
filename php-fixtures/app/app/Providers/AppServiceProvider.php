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
    }
}
