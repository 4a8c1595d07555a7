<?php

use Illuminate\Support\Str;

// Redis Cluster (tests/redis_cluster.rs): LARQ_REDIS_CLUSTER=host:port,host:port (the seed list
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
    'default' => 'sqlite',

    'connections' => [
        'sqlite' => [
            'driver' => 'sqlite',
            // Absolute path; created on demand by AppServiceProvider.
            'database' => env('DB_DATABASE', database_path('database.sqlite')),
            'prefix' => '',
            'foreign_key_constraints' => true,
        ],
    ],

    'migrations' => 'migrations',

    'redis' => array_merge([
        'client' => env('REDIS_CLIENT', 'phpredis'),
        'options' => [
            'cluster' => 'redis',
            // "Laravel" -> "laravel_database_", the prefix every queue key carries.
            'prefix' => env('REDIS_PREFIX', Str::slug(env('APP_NAME', 'laravel'), '_').'_database_'),
        ],
    ], $larqRedisServers),
];
