<?php

namespace App\Jobs;


use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/** The seed job: two promoted public properties, the usual four traits. */
class SomeJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public function __construct(public int $userId, public string $someParam)
    {
    }

    public function handle()
    {
        echo "Processing user ID: {$this->userId} with param: {$this->someParam}\n";
        Recorder::record($this);
    }
}
