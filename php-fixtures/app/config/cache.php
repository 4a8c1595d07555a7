<?php

return [
    // The store the running version's skeleton picks (CACHE_DRIVER up to 10, CACHE_STORE from 11;
    // file up to 10, database from 11). The fixture's .env names redis, so unique-job locks and
    // the queue:restart signal live in Redis unless a test says otherwise.
    'default' => App\Support\Skeleton::cacheStore(),

    'stores' => [
        'redis' => [
            'driver' => 'redis',
            'connection' => 'cache',
            'lock_connection' => 'default',
        ],
        'array' => [
            'driver' => 'array',
            'serialize' => false,
        ],
        // The Laravel 8 skeleton's default store; CACHE_FILE_PATH lets a test give it a
        // directory of its own (larq's tests/integration/cli_ops.rs, queue:restart through the file cache).
        'file' => [
            'driver' => 'file',
            'path' => env('CACHE_FILE_PATH', storage_path('framework/cache/data')),
        ],

        // The 11+ skeleton's default store, as 13's base config/cache.php declares it (larq's
        // tests/integration/cache_stores.rs); the tables are made by larq:setup-db.
        'database' => [
            'driver' => 'database',
            'connection' => env('DB_CACHE_CONNECTION'),
            'table' => env('DB_CACHE_TABLE', 'cache'),
            'lock_connection' => env('DB_CACHE_LOCK_CONNECTION'),
            'lock_table' => env('DB_CACHE_LOCK_TABLE'),
        ],
    ],

    'prefix' => env('CACHE_PREFIX', App\Support\Skeleton::cachePrefix()),
];
