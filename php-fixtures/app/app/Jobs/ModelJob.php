<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

use App\Models\User;
use Illuminate\Database\Eloquent\Collection;

/** An Eloquent model and collections (SerializesModels turns them into ModelIdentifier). */
class ModelJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public function __construct(
        public User $user,
        public Collection $users,
        public Collection $nobody,
        protected string $note = "models",
    ) {
    }

    public function handle()
    {
        Recorder::record($this);
    }
}
