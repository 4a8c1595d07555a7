<?php

namespace App\Jobs;


use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/** Same as VisibilityJob but with SerializesModels (reflection order: own, inherited, traits). */
class VisibilityModelsJob extends BaseVisibilityJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

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
