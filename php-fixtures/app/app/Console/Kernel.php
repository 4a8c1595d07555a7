<?php

namespace App\Console;

use Illuminate\Foundation\Console\Kernel as BaseKernel;

class Kernel extends BaseKernel
{
    /** Listed by hand (no composer.json, so no namespace discovery). */
    protected $commands = [
        Commands\SetupDatabase::class,
        Commands\CaptureFixtures::class,
        Commands\DispatchShape::class,
        Commands\PopJob::class,
        Commands\CaptureRabbitMQ::class,
    ];
}
