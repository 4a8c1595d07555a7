<?php

namespace App\Jobs;


use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;

/** Public, protected and private properties, inherited ones included; no SerializesModels. */
class VisibilityJob extends BaseVisibilityJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable;

    public $visible = "public value";
    protected $token = "protected value";
    private $secret = "child secret";
    private ?int $typedPrivate = -3;
    protected ?string $unsetTyped;

    public function __construct(public string $promoted = "promoted")
    {
    }

    public function handle()
    {
        Recorder::record($this);
    }
}
