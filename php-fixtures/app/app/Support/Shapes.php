<?php

namespace App\Support;

use App\Events\OrderShipped;
use App\Jobs;
use App\Mail\OrderShippedMail;
use App\Middleware\Tagged;
use App\Models\User;
use App\Notifications\InvoicePaid;
use Illuminate\Queue\Middleware\WithoutOverlapping;
use Illuminate\Support\Carbon;
use Illuminate\Support\Facades\Bus;
use Illuminate\Support\Facades\Mail;
use Illuminate\Support\Facades\Queue;

/**
 * Every payload shape the fixtures produce, by name. Each entry: 'about' (what it is), 'how'
 * (how Laravel produced it) and 'run', a function that dispatches it through Laravel. 'run'
 * receives $expect: call it with a job object before dispatching it so the expectation is taken
 * from the live object right then (the capture command also watches JobQueued for objects that
 * framework code builds, e.g. listener, mailable, notification and closure wrappers).
 */
final class Shapes
{
    /** @return array<string, array{about: string, how: string, run: callable}> */
    public static function all(): array
    {
        $plain = function (string $about, callable $make) {
            return [
                'about' => $about,
                'how' => 'dispatch($job) on the default redis connection',
                'run' => function (callable $expect) use ($make) {
                    $job = $make();
                    $expect($job);
                    dispatch($job);
                },
            ];
        };

        return [
            'some_job' => $plain('the seed job SomeJob(42, "hello"): promoted public int/string, SerializesModels', fn () => new Jobs\SomeJob(42, 'hello')),
            'echo_job' => $plain('EchoJob: untyped public props of every scalar kind, no SerializesModels', fn () => new Jobs\EchoJob()),
            'visibility_job' => $plain('public/protected/private props, parent private with the same name as the child\'s, uninitialized typed prop; plain property table', fn () => new Jobs\VisibilityJob()),
            'visibility_models_job' => $plain('same class shape with SerializesModels (__serialize: reflection order, parent private dropped)', fn () => new Jobs\VisibilityModelsJob()),
            'data_job' => $plain('nested lists/maps; int, negative, numeric-string ("010"), empty and >i64 keys; CJK, emoji, empty string, quotes, ;{}, NUL, control chars, slashes', fn () => new Jobs\DataJob()),
            'floats_job' => $plain('floats 0.1, 1e100, -0.0, INF, -INF, NAN, 123.0, 5e-324, 2.2250738585072014E-308, 1e16, 1e17, 1.5e-5, PHP_FLOAT_MAX, ...', fn () => new Jobs\FloatsJob()),
            'ints_job' => $plain('PHP_INT_MAX, PHP_INT_MIN, 0, -1, bools, null', fn () => new Jobs\IntsJob()),
            'objects_job' => $plain('stdClass (numeric prop name), value class with 3 visibilities, shared instance (r:), PHP references (R:) between props and inside an array', fn () => new Jobs\ObjectsJob()),
            'dates_job' => $plain('Illuminate Carbon, CarbonImmutable (Europe/Paris, fraction), DateTime (New York, micros), DateTimeImmutable (+05:30 offset), DateInterval, DateTimeZone', fn () => new Jobs\DatesJob()),
            'enums_job' => $plain('backed string enum, backed int enum (negative), pure enum, repeated case (r:)', fn () => new Jobs\EnumsJob()),
            'model_job' => $plain('Eloquent model, collection of 3 and empty collection via SerializesModels (ModelIdentifier)', fn () => new Jobs\ModelJob(
                User::find(1),
                User::query()->whereIn('id', [3, 1, 2])->orderByDesc('id')->get(),
                User::query()->where('id', '<', 0)->get(),
            )),
            'model_whole_job' => $plain('Eloquent model in a job without SerializesModels: the whole model object', fn () => new Jobs\ModelWholeJob(User::find(2))),
            'encrypted_job' => $plain('ShouldBeEncrypted: data.command is an AES-256-CBC envelope (expectation = decrypted inner object)', fn () => new Jobs\EncryptedJob()),
            'options_job' => $plain('$tries, $maxExceptions, $backoff [5,10,30], $timeout, $failOnTimeout, retryUntil() (2030-01-01)', fn () => new Jobs\OptionsJob()),
            'named_connection_job' => $plain('onConnection("redis-high")->onQueue("emails"): key queues:emails', fn () => (new Jobs\SomeJob(7, 'high'))->onConnection('redis-high')->onQueue('emails')),
            'delayed_seconds_job' => $plain('->delay(60): member of queues:default:delayed', fn () => (new Jobs\SomeJob(8, 'later'))->delay(60)),
            'delayed_carbon_job' => $plain('->delay(Carbon 2030-01-02 03:04:05 UTC): Carbon in the delay prop, member of :delayed', fn () => (new Jobs\SomeJob(9, 'later'))->delay(Carbon::create(2030, 1, 2, 3, 4, 5, 'UTC'))),
            'delayed_interval_job' => $plain('->delay(new DateInterval("PT90S")): DateInterval in the delay prop', fn () => (new Jobs\SomeJob(10, 'later'))->delay(new \DateInterval('PT90S'))),
            // No expectation before dispatch: from Laravel 12 the framework writes the lock's
            // owner into the job (uniqueLockOwner) while dispatching it, so the tree is the one
            // seen at JobQueued.
            'unique_job' => [
                'about' => 'ShouldBeUnique with uniqueId() and $uniqueFor (lock taken in the cache store)',
                'how' => 'dispatch($job) on the default redis connection (expectation at JobQueued: 12+ adds uniqueLockOwner)',
                'run' => function (callable $expect) {
                    dispatch(new Jobs\UniqueJob());
                },
            ],
            'middleware_job' => $plain('->through([Tagged, WithoutOverlapping]): middleware objects inside the payload', fn () => (new Jobs\MiddlewareJob())->through([new Tagged('fixture', 3), (new WithoutOverlapping('order-5'))->releaseAfter(10)])),
            'serializable_job' => $plain('a legacy Serializable object (C: token)', fn () => new Jobs\SerializableJob()),
            'failing_job' => $plain('FailingJob(3): $tries 2, $backoff [1,2]', fn () => new Jobs\FailingJob(3)),
            'sleep_job' => $plain('SleepJob(1)', fn () => new Jobs\SleepJob(1)),
            'database_job' => [
                'about' => 'SomeJob on the database driver: the payload column of the sqlite jobs row (no id/attempts keys)',
                'how' => 'dispatch($job->onConnection("database"))',
                'run' => function (callable $expect) {
                    $job = (new Jobs\SomeJob(11, 'db'))->onConnection('database');
                    $expect($job);
                    dispatch($job);
                },
            ],
            'chain' => [
                'about' => 'Bus::chain([ChainStep 1,2,3])->onQueue("chains")->catch(closure): the first link, with chained serialized strings and chainCatchCallbacks',
                'how' => 'Bus::chain(...)->dispatch(); expectation from the JobQueued event object (PendingChain fills chained/chainCatchCallbacks)',
                'run' => function (callable $expect) {
                    Bus::chain([new Jobs\ChainStep(1), new Jobs\ChainStep(2), new Jobs\ChainStep(3)])
                        ->onQueue('chains')
                        ->catch(function (\Throwable $e) {
                            info('chain failed: '.$e->getMessage());
                        })
                        ->dispatch();
                },
            ],
            'batch' => [
                'about' => 'Bus::batch([BatchStep 1, BatchStep 2])->name()->allowFailures()->then(closure): one payload per job, batchId set (job_batches row on sqlite)',
                'how' => 'Bus::batch(...)->dispatch(); expectation from the JobQueued event objects',
                'run' => function (callable $expect) {
                    Bus::batch([new Jobs\BatchStep(1), new Jobs\BatchStep(2)])
                        ->name('fixture batch')
                        ->allowFailures()
                        ->then(function () {
                            info('batch done');
                        })
                        ->dispatch();
                },
            ],
            'closure' => [
                'about' => 'dispatch(function () use ($orderId) {...}): CallQueuedClosure with a signed SerializableClosure',
                'how' => 'dispatch(closure); expectation from the JobQueued event object',
                'run' => function (callable $expect) {
                    $orderId = 5;
                    dispatch(function () use ($orderId) {
                        info("closure ran for order {$orderId}");
                    });
                },
            ],
            'listener' => [
                'about' => 'event(new OrderShipped(5, "ups")) with a queued listener: CallQueuedListener carrying tries/timeout/backoff',
                'how' => 'event(...); expectation from the JobQueued event object',
                'run' => function (callable $expect) {
                    event(new OrderShipped(5, 'ups'));
                },
            ],
            'mailable' => [
                'about' => 'Mail::to(...)->queue(new OrderShippedMail(5)): SendQueuedMailable with the whole mailable (never sent)',
                'how' => 'Mail::to()->queue(); expectation from the JobQueued event object',
                'run' => function (callable $expect) {
                    Mail::to('customer@example.com')->queue(new OrderShippedMail(5));
                },
            ],
            'notification' => [
                'about' => 'User::find(1)->notify(new InvoicePaid(12.5)) via mail and database: one SendQueuedNotifications per channel (notification id is a fresh uuid)',
                'how' => '$user->notify(); expectation from the JobQueued event objects',
                'run' => function (callable $expect) {
                    User::find(1)->notify(new InvoicePaid(12.5));
                },
            ],
            'string_payload' => [
                'about' => 'Queue::push("App\\Jobs\\Legacy@handle", $data): a string payload, data is plain JSON, no command',
                'how' => 'Queue::connection("redis")->push(...)',
                'run' => function (callable $expect) {
                    Queue::connection('redis')->push('App\Jobs\Legacy@handle', ['order' => 5, 'path' => 'a/b', 'tags' => ['x', 'y'], 'price' => 9.5]);
                },
            ],
            'reserved_some_job' => [
                'about' => 'the :reserved copy of SomeJob(12, "reserved") after Laravel\'s own pop(): cjson re-encoding, attempts 1',
                'how' => 'dispatch, then Queue::connection("redis")->pop(); read the member of queues:default:reserved',
                'run' => function (callable $expect) {
                    $job = new Jobs\SomeJob(12, 'reserved');
                    $expect($job);
                    dispatch($job);
                    Queue::connection('redis')->pop();
                },
            ],
            'released_failing_job' => [
                'about' => 'FailingJob(4) popped and released with 30 s: the :delayed copy (cjson, attempts 1)',
                'how' => 'dispatch, pop(), $job->release(30); read the member of queues:default:delayed',
                'run' => function (callable $expect) {
                    $job = new Jobs\FailingJob(4);
                    $expect($job);
                    dispatch($job);
                    Queue::connection('redis')->pop()->release(30);
                },
            ],
        ];
    }
}
