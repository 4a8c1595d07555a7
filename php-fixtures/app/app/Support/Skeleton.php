<?php

namespace App\Support;

use Illuminate\Foundation\Application;
use Illuminate\Foundation\Bootstrap\LoadConfiguration;
use Illuminate\Support\Str;

/**
 * The defaults a new app of the running Laravel version gets from its skeleton, so that the
 * fixture app behaves as that version's apps do where larq must match it (key prefixes, the cache
 * store when none is named).
 *
 * From Laravel 11 the defaults live in the framework's own base configuration (merged under the
 * app's files), so they are read from there: the real package decides. Laravel 8 and 10 kept them
 * in the skeleton's config files, which Debian does not ship; those two are written out here, as
 * their skeletons (laravel/laravel 8.x and 10.x) have them.
 */
final class Skeleton
{
    /** The major version of the framework running this app. */
    public static function major(): int
    {
        return (int) Application::VERSION;
    }

    /** The Redis key prefix (`database.redis.options.prefix`) when REDIS_PREFIX is unset. */
    public static function redisPrefix(): string
    {
        if (self::major() >= 11) {
            return self::base('database')['redis']['options']['prefix'];
        }

        return Str::slug(env('APP_NAME', 'laravel'), '_').'_database_';
    }

    /** The cache key prefix (`cache.prefix`) when CACHE_PREFIX is unset. */
    public static function cachePrefix(): string
    {
        if (self::major() >= 11) {
            return self::base('cache')['prefix'];
        }
        $slug = Str::slug(env('APP_NAME', 'laravel'), '_');

        return self::major() >= 9 ? $slug.'_cache_' : $slug.'_cache';
    }

    /** The default cache store: the env var that version's config reads, else its default. */
    public static function cacheStore(): string
    {
        if (self::major() >= 11) {
            return self::base('cache')['default'];
        }

        return env('CACHE_DRIVER', 'file');
    }

    /** One file of the framework's base configuration (Laravel 11+), evaluated now. */
    private static function base(string $name): array
    {
        $dir = dirname((new \ReflectionClass(LoadConfiguration::class))->getFileName()).'/../../../../config';

        return require $dir.'/'.$name.'.php';
    }
}
