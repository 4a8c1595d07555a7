<?php

return [
    'default' => env('QUEUE_CONNECTION', 'redis'),

    'connections' => [
        'sync' => ['driver' => 'sync'],

        'redis' => [
            'driver' => 'redis',
            'connection' => 'default',
            'queue' => env('REDIS_QUEUE', 'default'),
            'retry_after' => 90,
            'block_for' => null,
            'after_commit' => false,
        ],

        // A second, named connection on the same Redis server with its own default queue.
        'redis-high' => [
            'driver' => 'redis',
            'connection' => 'default',
            'queue' => 'high',
            'retry_after' => 90,
            'block_for' => null,
            'after_commit' => false,
        ],

        'database' => [
            'driver' => 'database',
            'connection' => env('DB_CONNECTION', 'sqlite'),
            'table' => env('DB_QUEUE_TABLE', 'jobs'),
            'queue' => env('DB_QUEUE', 'default'),
            'retry_after' => (int) env('DB_QUEUE_RETRY_AFTER', 90),
            'after_commit' => false,
        ],

        // RabbitMQ, with the keys of vladimir-yuldashev/laravel-queue-rabbitmq 14.x (its
        // config/rabbitmq.php and README): driver app/Queue/RabbitMQ, registered by
        // App\Providers\RabbitMQServiceProvider. The package's file names env vars only for the
        // host and the queue; the RABBITMQ_* names of the options are this app's.
        'rabbitmq' => [
            'driver' => 'rabbitmq',
            'queue' => env('RABBITMQ_QUEUE', 'default'),
            'connection' => 'default',
            'hosts' => [
                [
                    'host' => env('RABBITMQ_HOST', '127.0.0.1'),
                    'port' => env('RABBITMQ_PORT', 5672),
                    'user' => env('RABBITMQ_USER', 'guest'),
                    'password' => env('RABBITMQ_PASSWORD', 'guest'),
                    'vhost' => env('RABBITMQ_VHOST', '/'),
                ],
            ],
            'options' => [
                'queue' => [
                    'exchange' => env('RABBITMQ_EXCHANGE', ''),
                    'exchange_type' => env('RABBITMQ_EXCHANGE_TYPE', 'direct'),
                    'exchange_routing_key' => env('RABBITMQ_EXCHANGE_ROUTING_KEY', '%s'),
                    'prioritize_delayed' => env('RABBITMQ_PRIORITIZE_DELAYED', false),
                    'queue_max_priority' => env('RABBITMQ_QUEUE_MAX_PRIORITY', 2),
                    'reroute_failed' => env('RABBITMQ_REROUTE_FAILED', false),
                    'failed_exchange' => env('RABBITMQ_FAILED_EXCHANGE', ''),
                    'failed_routing_key' => env('RABBITMQ_FAILED_ROUTING_KEY', '%s.failed'),
                    'quorum' => env('RABBITMQ_QUORUM', false),
                ],
                'ssl_options' => [
                    'cafile' => env('RABBITMQ_SSL_CAFILE', null),
                    'local_cert' => env('RABBITMQ_SSL_LOCALCERT', null),
                    'local_key' => env('RABBITMQ_SSL_LOCALKEY', null),
                    'verify_peer' => env('RABBITMQ_SSL_VERIFY_PEER', true),
                    'passphrase' => env('RABBITMQ_SSL_PASSPHRASE', null),
                ],
                'heartbeat' => env('RABBITMQ_HEARTBEAT', 0),
                'connection_timeout' => env('RABBITMQ_CONNECTION_TIMEOUT', 3.0),
                'read_timeout' => env('RABBITMQ_READ_TIMEOUT', 3.0),
                'write_timeout' => env('RABBITMQ_WRITE_TIMEOUT', 3.0),
            ],
            'secure' => env('RABBITMQ_SECURE', false),
            'network_protocol' => env('RABBITMQ_NETWORK_PROTOCOL', 'tcp'),
            'lazy' => env('RABBITMQ_LAZY', true),
            'worker' => env('RABBITMQ_WORKER', 'default'),
            'after_commit' => false,
        ],
    ],

    'batching' => [
        'database' => env('DB_CONNECTION', 'sqlite'),
        'table' => 'job_batches',
    ],

    'failed' => [
        'driver' => 'database-uuids',
        'database' => env('DB_CONNECTION', 'sqlite'),
        'table' => 'failed_jobs',
    ],
];
