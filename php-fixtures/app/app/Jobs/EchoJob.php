<?php

namespace App\Jobs;


use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;

/**
 * Untyped public properties of every scalar kind, no SerializesModels (plain property table), so
 * whatever a producer puts in arrives as is and is recorded.
 */
class EchoJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable;

    public $int = 42;
    public $float = 1.5;
    public $string = "h\u{e9}llo \"w\" /;{}";
    public $bool = true;
    public $null = null;
    public $list = [1, 2, 3];
    public $nested = ["a" => [1, ["b" => null]], 10 => "ten", "010" => "oh-ten", -1 => false];

    public function __construct(array $props = [])
    {
        foreach ($props as $k => $v) {
            $this->{$k} = $v;
        }
    }

    public function handle()
    {
        Recorder::record($this);
    }
}
