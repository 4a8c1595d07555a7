<?php

namespace App\Providers;

use Illuminate\Foundation\Support\Providers\EventServiceProvider as BaseProvider;

class EventServiceProvider extends BaseProvider
{
    protected $listen = [
        \App\Events\OrderShipped::class => [
            \App\Listeners\SendShipmentNotification::class,
        ],
    ];
}
