<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\Middleware\WithoutOverlapping;
use Illuminate\Queue\SerializesModels;

/**
 * WithoutOverlapping from the class's middleware() method (not in the payload): one OverlapJob
 * at a time across every worker; one that finds the lock taken is released for 1 s.
 * Records when it started and ended ("by": "php").
 */
class OverlapJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public function __construct(public int $n = 0, public int $millis = 300)
    {
    }

    public function middleware()
    {
        return [(new WithoutOverlapping('shared'))->releaseAfter(1)];
    }

    public function handle()
    {
        $start = microtime(true);
        usleep($this->millis * 1000);
        Recorder::record($this, ['start' => $start, 'end' => microtime(true), 'by' => 'php']);
    }
}
