<?php

namespace App\Jobs;


use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/** Sleeps $seconds (records before sleeping, and again after with "done": true). */
class SleepJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public function __construct(public int $seconds = 1)
    {
    }

    public function handle()
    {
        Recorder::record($this, ["done" => false]);
        sleep($this->seconds);
        Recorder::record($this, ["done" => true]);
    }
}
