<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

use Illuminate\Contracts\Queue\ShouldBeUnique;

/** ShouldBeUnique: a lock laravel_unique_job:App\Jobs\UniqueJob<id> is taken at dispatch. */
class UniqueJob implements ShouldQueue, ShouldBeUnique
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public $uniqueFor = 3600;

    public function __construct(public int $productId = 77)
    {
    }

    public function uniqueId()
    {
        return "product-".$this->productId;
    }

    public function handle()
    {
        Recorder::record($this);
    }
}
