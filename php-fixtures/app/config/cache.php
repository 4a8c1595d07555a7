<?php

return [
    // Redis, so unique-job locks and the queue:restart signal live in Redis.
    'default' => env('CACHE_DRIVER', 'redis'),

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
    ],

    'prefix' => env('CACHE_PREFIX', 'laravel_cache'),
];
