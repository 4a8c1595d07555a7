<?php

namespace App\Listeners;

use App\Events\OrderShipped;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Queue\InteractsWithQueue;

/** A queued listener with the options Laravel copies into CallQueuedListener. */
class SendShipmentNotification implements ShouldQueue
{
    use InteractsWithQueue;

    public $tries = 2;
    public $timeout = 30;
    public $backoff = [3, 9];

    public function handle(OrderShipped $event)
    {
        \App\Support\Recorder::record($event);
    }
}
