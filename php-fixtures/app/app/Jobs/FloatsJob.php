<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/** Every float edge case serialize() has a special form for. */
class FloatsJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public $tenth = 0.1;
    public $big = 1e100;
    public $negZero = -0.0;
    public $inf = INF;
    public $negInf = -INF;
    public $nan = NAN;
    public $integral = 123.0;
    public $minSubnormal = 5e-324;
    public $minNormal = 2.2250738585072014E-308;
    public $e16 = 1e16;
    public $e17 = 1e17;
    public $small = 1.5e-5;
    public $third = 0.3333333333333333;
    public $negative = -2.5;
    public $max = PHP_FLOAT_MAX;
    public $list = [0.1, 0.2, 0.30000000000000004, 1.0E-4, 9.999999999999999e16];

    public function handle()
    {
        Recorder::record($this);
    }
}
