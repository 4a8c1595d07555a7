<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

use App\Enums\Priority;
use App\Enums\Status;
use App\Enums\Suit;

/** Backed (string and int) and pure enums; a case used twice is written as r:. */
class EnumsJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public function __construct(
        public Status $status = Status::Active,
        public Priority $priority = Priority::Low,
        public Suit $suit = Suit::Spades,
        public array $many = [Status::Suspended, Status::Active, Suit::Hearts],
    ) {
    }

    public function handle()
    {
        Recorder::record($this);
    }
}
