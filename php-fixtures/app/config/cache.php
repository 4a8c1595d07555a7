<?php

return [
    // Redis, so unique-job locks and the queue:restart signal live in Redis. CACHE_STORE (the
    // 11+ name) wins over CACHE_DRIVER (8-10), so a test can give each version its own variable.
    'default' => env('CACHE_STORE', env('CACHE_DRIVER', 'redis')),

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

    'prefix' => env('CACHE_PREFIX', 'laravel_cache'),
];
