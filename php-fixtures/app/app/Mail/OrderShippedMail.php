<?php

namespace App\Mail;

use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Mail\Mailable;
use Illuminate\Queue\SerializesModels;

/** A queued mailable; the fixtures only dispatch it, it is never sent. */
class OrderShippedMail extends Mailable implements ShouldQueue
{
    use Queueable, SerializesModels;

    public function __construct(public int $orderId, protected string $trackingCode = 'TRK-1')
    {
        $this->subject("Order {$orderId} shipped");
    }

    public function build()
    {
        return $this->html('<p>shipped</p>');
    }
}
