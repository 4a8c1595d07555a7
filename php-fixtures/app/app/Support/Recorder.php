<?php

namespace App\Support;

/**
 * Appends one JSON line per handled job to the file named by LARQ_RECORD_FILE (when set):
 * {"class", "uuid", "attempts", "props"} where props is the value tree of the job object as the
 * worker unserialized it (walked like serialize() on a clone whose `job` property is null).
 */
final class Recorder
{
    public static function record(object $command, array $extra = []): void
    {
        $file = getenv('LARQ_RECORD_FILE');
        if ($file === false || $file === '') {
            return;
        }
        $queueJob = property_exists($command, 'job') ? $command->job : null;
        $copy = clone $command;
        if (property_exists($copy, 'job')) {
            $copy->job = null;
        }
        $line = [
            'class' => get_class($command),
            'uuid' => $queueJob ? $queueJob->uuid() : null,
            'attempts' => $queueJob ? $queueJob->attempts() : null,
            'props' => ValueTree::of($copy),
        ] + $extra;
        file_put_contents($file, ValueTree::json($line, false)."\n", FILE_APPEND | LOCK_EX);
    }

    /** Line for a string-payload handler (`Class@method`), which gets the raw data instead. */
    public static function recordRaw(string $class, $queueJob, $data): void
    {
        $file = getenv('LARQ_RECORD_FILE');
        if ($file === false || $file === '') {
            return;
        }
        $line = [
            'class' => $class,
            'uuid' => $queueJob ? $queueJob->uuid() : null,
            'attempts' => $queueJob ? $queueJob->attempts() : null,
            'data' => $data,
        ];
        file_put_contents($file, ValueTree::json($line, false)."\n", FILE_APPEND | LOCK_EX);
    }
}
