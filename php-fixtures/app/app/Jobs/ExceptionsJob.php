<?php

namespace App\Jobs;

use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;

/** Always throws; $maxExceptions = 2 of 5 tries, so the worker counts exceptions in the cache
 * (`job-exceptions:<uuid>`) and fails the job at the second (larq's tests/integration/cache_stores.rs). */
class ExceptionsJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable;

    public $tries = 5;
    public $maxExceptions = 2;

    public function handle()
    {
        throw new \RuntimeException('counted');
    }
}
