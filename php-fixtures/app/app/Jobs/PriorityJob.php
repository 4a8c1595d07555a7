<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/**
 * A job with a public $priority: on the rabbitmq connection it becomes the message's `priority`
 * property (laravel-queue-rabbitmq reads it from the command).
 */
class PriorityJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public $priority = 7;

    public function __construct(public int $n = 1)
    {
    }

    public function handle()
    {
        Recorder::record($this);
    }
}
