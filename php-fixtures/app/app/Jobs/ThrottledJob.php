<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\Middleware\ThrottlesExceptions;
use Illuminate\Queue\Middleware\ThrottlesExceptionsWithRedis;
use Illuminate\Queue\SerializesModels;

/** Always throws, behind ThrottlesExceptions: 2 exceptions per 60 s window for the class, shared by
 * PHP and larq workers (tests/integration/laravel_middleware.rs). */
class ThrottledJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public function __construct(public int $n, public bool $redis = false)
    {
    }

    public function middleware()
    {
        // The window: minutes up to Laravel 12, seconds in 13.
        $decay = version_compare(app()->version(), '13.0.0', '>=') ? 60 : 1;

        // $redis: the same count in a Redis DurationLimiter instead of the cache.
        return [$this->redis ? new ThrottlesExceptionsWithRedis(2, $decay) : new ThrottlesExceptions(2, $decay)];
    }

    public function handle()
    {
        Recorder::record($this);
        throw new \RuntimeException("throttled {$this->n}");
    }
}
