<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/** Integer extremes. */
class IntsJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public $max = PHP_INT_MAX;
    public $min = PHP_INT_MIN;
    public $zero = 0;
    public $minusOne = -1;
    public $bools = [true, false];
    public $nothing = null;

    public function handle()
    {
        Recorder::record($this);
    }
}
