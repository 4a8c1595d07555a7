<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

use App\Values\LegacyBox;

/** Holds a legacy Serializable object (C: token). */
class SerializableJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable;

    public $box;

    public function __construct()
    {
        $this->box = new LegacyBox(["a" => 1, "list" => [1, 2]]);
    }

    public function handle()
    {
        Recorder::record($this);
    }
}
