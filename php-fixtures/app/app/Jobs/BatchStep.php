<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

use Illuminate\Bus\Batchable;

/** A batched job (Batchable adds batchId); a negative n throws, for batch failure tests. */
class BatchStep implements ShouldQueue
{
    use Batchable, Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public function __construct(public int $n)
    {
    }

    public function handle()
    {
        Recorder::record($this);
        if ($this->n < 0) {
            throw new \RuntimeException("batch step {$this->n} failed");
        }
    }
}
