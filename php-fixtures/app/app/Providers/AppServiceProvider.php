<?php

namespace App\Providers;

use Illuminate\Support\ServiceProvider;

class AppServiceProvider extends ServiceProvider
{
    public function register()
    {
        // The SQLite file is created on demand (its directory must exist).
        $path = $this->app['config']->get('database.connections.sqlite.database');
        if (is_string($path) && $path !== ':memory:' && ! file_exists($path) && is_dir(dirname($path))) {
            touch($path);
        }
    }
}
