<?php

namespace App\Jobs;

use App\Models\User;
use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/** A model job that asks to be deleted, not failed, when its model is gone
 * (tests/integration/laravel_models.rs). Laravel 13 copies the property into the payload;
 * 9+ leave it out of the command, since it equals the declared default. */
class ModelGoneJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public $deleteWhenMissingModels = true;

    public function __construct(public User $user)
    {
    }

    public function handle()
    {
        Recorder::record($this);
    }
}
