<?php

namespace App\Middleware;

/** Job middleware given through through(): it travels inside the payload. */
class Tagged
{
    public function __construct(public string $tag = 'fixture', private int $weight = 3)
    {
    }

    public function handle($job, $next)
    {
        return $next($job);
    }
}
