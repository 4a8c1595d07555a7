<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

use App\Values\Money;

/**
 * Objects inside a job without SerializesModels: stdClass, a value class, one instance held twice
 * (serialize() writes r:) and two properties bound by a PHP reference (R:).
 */
class ObjectsJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable;

    public $plain;
    public $money;
    public $sameMoney;
    public $list;
    public $counter = 5;
    public $counterRef;
    public $arrayWithRefs;

    public function __construct()
    {
        $this->plain = new \stdClass();
        $this->plain->a = 1;
        $this->plain->{"0"} = "numeric name";
        $this->plain->nested = new \stdClass();
        $this->money = new Money("EUR", 1999, "note");
        $this->sameMoney = $this->money;
        $this->list = [$this->money, $this->plain->nested];
        $this->counterRef = &$this->counter;
        $shared = ["x" => 1];
        $this->arrayWithRefs = ["first" => &$shared, "second" => &$shared, "copy" => $shared];
    }

    public function handle()
    {
        Recorder::record($this);
    }
}
