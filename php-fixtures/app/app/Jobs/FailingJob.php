<?php

namespace App\Jobs;


use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/** Always throws RuntimeException("boom <n>"); $tries and $backoff for failure tests. */
class FailingJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public $tries = 2;
    public $backoff = [1, 2];

    public function __construct(public int $n = 1, ?int $tries = null, $backoff = null)
    {
        if ($tries !== null) {
            $this->tries = $tries;
        }
        if ($backoff !== null) {
            $this->backoff = $backoff;
        }
    }

    public function handle()
    {
        Recorder::record($this);
        throw new \RuntimeException("boom {$this->n}");
    }
}
