<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\Middleware\RateLimited;
use Illuminate\Queue\Middleware\RateLimitedWithRedis;
use Illuminate\Queue\SerializesModels;

/**
 * RateLimited('larq-fixture') from the class's middleware() method: the limiter (registered in
 * AppServiceProvider) allows LARQ_FIXTURE_LIMIT runs a minute (default 3) across every worker.
 */
class LimitedJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public function __construct(public int $n = 0, public bool $redis = false)
    {
    }

    public function middleware()
    {
        // $redis: the same limiter counted in a Redis DurationLimiter instead of the cache.
        return [$this->redis ? new RateLimitedWithRedis('larq-fixture') : new RateLimited('larq-fixture')];
    }

    public function handle()
    {
        Recorder::record($this, ['by' => 'php']);
    }
}
