<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

use Carbon\CarbonImmutable;
use Illuminate\Support\Carbon;

/** Carbon (Laravel's and nesbot's) and native date values, fixed instants. */
class DatesJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public $carbon;
    public $carbonImmutable;
    public $dateTime;
    public $dateTimeImmutable;
    public $interval;
    public $zone;

    public function __construct()
    {
        $this->carbon = Carbon::create(2026, 1, 2, 3, 4, 5, "UTC");
        $this->carbonImmutable = CarbonImmutable::create(2026, 7, 8, 9, 10, 11.25, "Europe/Paris");
        $this->dateTime = new \DateTime("2026-01-02 03:04:05.123456", new \DateTimeZone("America/New_York"));
        $this->dateTimeImmutable = new \DateTimeImmutable("2026-01-02T03:04:05+05:30");
        $this->interval = new \DateInterval("P1DT2H3M");
        $this->zone = new \DateTimeZone("Asia/Tokyo");
    }

    public function handle()
    {
        Recorder::record($this);
    }
}
