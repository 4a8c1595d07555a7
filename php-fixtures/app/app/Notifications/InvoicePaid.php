<?php

namespace App\Notifications;

use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Notifications\Notification;

/** A queued notification; dispatched only. */
class InvoicePaid extends Notification implements ShouldQueue
{
    use Queueable;

    public function __construct(public float $amount = 99.5)
    {
    }

    public function via($notifiable)
    {
        return ['mail', 'database'];
    }
}
