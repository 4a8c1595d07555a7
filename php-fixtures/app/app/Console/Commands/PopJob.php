<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;
use Illuminate\Support\Facades\Queue;

/**
 * Pops one job with Laravel's own queue driver and does nothing else with it, so a test can
 * measure what Laravel's pop costs the queue backend (its Lua scripts in Redis) on a payload.
 * Prints one JSON line: {"popped": bool, "error": string|null}. A payload Laravel's pop script
 * cannot decode makes the script fail; that is reported, not thrown.
 *
 *   php artisan larq:pop stress --connection=redis
 */
class PopJob extends Command
{
    protected $signature = 'larq:pop {queue=default} {--connection=redis}';

    protected $description = "Pop one job with Laravel's queue driver (for cost measurements)";

    public function handle()
    {
        $popped = false;
        $error = null;
        try {
            $popped = Queue::connection($this->option('connection'))->pop($this->argument('queue')) !== null;
        } catch (\Throwable $e) {
            $error = get_class($e).': '.substr($e->getMessage(), 0, 300);
        }
        $this->output->writeln(json_encode(['popped' => $popped, 'error' => $error]));

        return 0;
    }
}
