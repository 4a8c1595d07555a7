<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/** Every worker option a job can carry in its payload. */
class OptionsJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public $tries = 5;
    public $maxExceptions = 2;
    public $backoff = [5, 10, 30];
    public $timeout = 120;
    public $failOnTimeout = true;
    public $deleteWhenMissingModels = true;

    public function retryUntil()
    {
        return \Illuminate\Support\Carbon::create(2030, 1, 1, 0, 0, 0, "UTC");
    }

    public function handle()
    {
        Recorder::record($this);
    }
}
