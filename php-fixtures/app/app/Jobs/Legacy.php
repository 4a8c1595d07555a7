<?php

namespace App\Jobs;


use App\Support\Recorder;

/** Target of a string payload: Queue::push("App\\Jobs\\Legacy@handle", $data). */
class Legacy
{
    public function handle($job, $data)
    {
        Recorder::recordRaw(self::class, $job, $data);
        $job->delete();
    }
}
