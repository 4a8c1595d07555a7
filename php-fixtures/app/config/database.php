<?php

use Illuminate\Support\Str;

// Redis Cluster (tests/integration/redis_cluster.rs): LARQ_REDIS_CLUSTER=host:port,host:port (the seed list
// larq reads too) moves both Redis connections under `clusters`, which is how an app on a cluster
// configures them; phpredis then talks to it through RedisCluster. Unset: one server, as before.
$larqClusterSeeds = array_values(array_filter(array_map('trim', explode(',', (string) env('LARQ_REDIS_CLUSTER', '')))));
$larqClusterNodes = array_map(function ($seed) {
    [$host, $port] = array_pad(explode(':', $seed, 2), 2, '6379');

    return ['host' => $host, 'port' => $port, 'password' => env('REDIS_PASSWORD'), 'database' => 0];
}, $larqClusterSeeds);

$larqRedisServers = [
    'default' => [
        'host' => env('REDIS_HOST', '127.0.0.1'),
        'password' => env('REDIS_PASSWORD'),
        'port' => env('REDIS_PORT', '6379'),
        'database' => env('REDIS_DB', '0'),
    ],
    'cache' => [
        'host' => env('REDIS_HOST', '127.0.0.1'),
        'password' => env('REDIS_PASSWORD'),
        'port' => env('REDIS_PORT', '6379'),
        'database' => env('REDIS_CACHE_DB', '1'),
    ],
];
if ($larqClusterNodes !== []) {
    $larqRedisServers = ['clusters' => ['default' => $larqClusterNodes, 'cache' => $larqClusterNodes]];
}

return [
    // sqlite unless DB_CONNECTION says pgsql or mysql (bench/e2e_database.sh runs the app on
    // PostgreSQL and MariaDB too); the tests always use sqlite.
    'default' => env('DB_CONNECTION', 'sqlite'),

    'connections' => [
        'sqlite' => [
            'driver' => 'sqlite',
            // Absolute path; created on demand by AppServiceProvider.
            'database' => env('DB_DATABASE', database_path('database.sqlite')),
            'prefix' => '',
            'foreign_key_constraints' => true,
        ],
        'pgsql' => [
            'driver' => 'pgsql',
            'host' => env('DB_HOST', '127.0.0.1'),
            'port' => env('DB_PORT', '5432'),
            'database' => env('DB_DATABASE', 'test'),
            'username' => env('DB_USERNAME', 'postgres'),
            'password' => env('DB_PASSWORD', ''),
            'charset' => 'utf8',
            'prefix' => '',
            'schema' => 'public',
            'sslmode' => 'prefer',
        ],
        'mysql' => [
            'driver' => 'mysql',
            'host' => env('DB_HOST', '127.0.0.1'),
            'port' => env('DB_PORT', '3306'),
            'database' => env('DB_DATABASE', 'test'),
            'username' => env('DB_USERNAME', 'root'),
            'password' => env('DB_PASSWORD', ''),
            'unix_socket' => '',
            'charset' => 'utf8mb4',
            'collation' => 'utf8mb4_unicode_ci',
            'prefix' => '',
            'strict' => true,
            'engine' => null,
        ],
    ],

    'migrations' => 'migrations',

    'redis' => array_merge([
        'client' => env('REDIS_CLIENT', 'phpredis'),
        'options' => [
            'cluster' => 'redis',
            // The prefix every queue key carries: "Laravel" -> "laravel_database_" up to 11,
            // "laravel-database-" from 12 (the running version's default).
            'prefix' => env('REDIS_PREFIX', App\Support\Skeleton::redisPrefix()),
        ],
    ], $larqRedisServers),
];
