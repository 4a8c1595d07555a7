<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\Middleware\FailOnException;
use Illuminate\Queue\SerializesModels;

/** Laravel 13's FailOnException: a RuntimeException fails the job at once, whatever its 3 tries
 * (tests/integration/laravel_middleware.rs). */
class FailFastJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public $tries = 3;

    public function __construct(public int $n = 0)
    {
    }

    public function middleware()
    {
        return [new FailOnException([\RuntimeException::class])];
    }

    public function handle()
    {
        Recorder::record($this);
        throw new \RuntimeException("fail fast {$this->n}");
    }
}
