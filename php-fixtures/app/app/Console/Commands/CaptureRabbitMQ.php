<?php

namespace App\Console\Commands;

use App\Jobs;
use App\Support\ValueTree;
use Illuminate\Console\Command;
use Illuminate\Contracts\Queue\ShouldBeEncrypted;
use Illuminate\Queue\Events\JobQueued;
use Illuminate\Support\Facades\Bus;
use Illuminate\Support\Facades\Event;
use Illuminate\Support\Facades\Queue;
use PhpAmqpLib\Channel\AMQPChannel;
use PhpAmqpLib\Connection\AMQPStreamConnection;
use PhpAmqpLib\Exception\AMQPProtocolChannelException;
use PhpAmqpLib\Message\AMQPMessage;
use PhpAmqpLib\Wire\AMQPAbstractCollection;
use PhpAmqpLib\Wire\AMQPTable;

/**
 * Captures what the `rabbitmq` connection (app/Queue/RabbitMQ, laravel-queue-rabbitmq 14.x's
 * format) puts on the broker: each shape is dispatched through Laravel (and, for releases, failures
 * and retries, worked by Laravel's own `queue:work --once` / `queue:retry`), then every message of
 * the queues it names is taken with basic_get and acked. Per message:
 *
 *   <name>.json         the body, byte for byte
 *   <name>.amqp.json    {queue (read from), exchange, routing_key (as delivered), redelivered,
 *                        properties (AMQP order; application_headers as JSON, a timestamp as
 *                        Unix seconds),
 *                        header_types (the field-table type letters), queue_arguments (null here:
 *                        php-fixtures/capture-rabbitmq fills them from rabbitmqctl)}
 *   <name>.expect.json  as in the main corpus: the command's value tree from the live object
 *
 * Run it only through php-fixtures/capture-rabbitmq: it expects a fresh vhost of its own
 * (RABBITMQ_VHOST) and a private Redis (the worker's cache store).
 */
class CaptureRabbitMQ extends Command
{
    protected $signature = 'fixtures:capture-rabbitmq {outdir} {--only=* : capture only these shape names}';

    protected $description = 'Capture RabbitMQ messages of the rabbitmq connection (fresh vhost only)';

    private ?AMQPStreamConnection $reader = null;

    private ?AMQPChannel $channel = null;

    public function handle()
    {
        SetupDatabase::ensure();
        $out = rtrim($this->argument('outdir'), '/');
        if (! is_dir($out)) {
            mkdir($out, 0777, true);
        }
        $only = $this->option('only');
        if (! $only) {
            foreach (glob($out.'/*.json') as $old) {
                unlink($old);
            }
        }

        // Three more connections on the same vhost, for the options that change the format.
        $base = config('queue.connections.rabbitmq');
        config([
            'queue.default' => 'rabbitmq',
            'queue.connections.rabbitmq-reroute' => array_replace_recursive($base, ['queue' => 'rerouted', 'options' => ['queue' => ['reroute_failed' => true]]]),
            'queue.connections.rabbitmq-priority' => array_replace_recursive($base, ['queue' => 'prioritized', 'options' => ['queue' => ['prioritize_delayed' => true]]]),
            'queue.connections.rabbitmq-exchange' => array_replace_recursive($base, ['options' => ['queue' => ['exchange' => 'larq-exchange', 'exchange_routing_key' => 'app.%s']]]),
        ]);
        $host = $base['hosts'][0];
        $this->reader = new AMQPStreamConnection($host['host'], (int) $host['port'], $host['user'], $host['password'], $host['vhost']);

        $events = [];
        Event::listen(JobQueued::class, function (JobQueued $e) use (&$events) {
            $events[(string) $e->id] = ['job' => $e->job, 'tree' => is_object($e->job) ? ValueTree::of($e->job) : null];
        });

        $manifest = [];
        $failures = 0;
        foreach ($this->shapes() as $shape => $def) {
            if ($only && ! in_array($shape, $only, true)) {
                continue;
            }
            $result = ($def['run'])();
            $objects = $result['objects'] ?? null;
            $messages = [];
            foreach ($result['read'] as $queue => $count) {
                // Publishing is asynchronous: wait until the broker has them all.
                $this->waitFor($queue, $count);
                foreach ($this->drain($queue) as $m) {
                    $messages[] = [$queue, $m];
                }
            }
            foreach ($result['delete'] ?? [] as $queue) {
                try {
                    $this->channel()->queue_delete($queue);
                } catch (AMQPProtocolChannelException $e) {
                    $this->channel = null; // already expired
                }
            }
            if ($messages === []) {
                $this->error("$shape: no message in ".implode(', ', array_keys($result['read'])));
                $failures++;
                continue;
            }
            foreach ($messages as $i => [$queue, $m]) {
                $name = count($messages) === 1 ? $shape : $shape.'_'.$i;
                $body = $m->getBody();
                file_put_contents("$out/$name.json", $body);
                file_put_contents("$out/$name.amqp.json", self::json($this->envelope($queue, $m))."\n");
                $decoded = json_decode($body, true);
                $source = $objects !== null
                    ? ['job' => $objects[$i] ?? null, 'tree' => isset($objects[$i]) ? ValueTree::of($objects[$i]) : null]
                    : ($events[(string) ($decoded['id'] ?? '')] ?? null);
                [$expectation, $note] = $this->expectation($source, $body);
                if ($expectation !== null) {
                    file_put_contents("$out/$name.expect.json", ValueTree::json($expectation)."\n");
                } else {
                    $failures++;
                }
                $manifest[] = [$name, $queue, $def['about'], $note];
                $this->line(sprintf('%-28s %-24s %s', $name, $queue, $note));
            }
        }
        if (! $only) {
            $this->writeManifest($out, $manifest);
        }
        $this->reader->close();

        return $failures === 0 ? 0 : 1;
    }

    /** @return array<string, array{about: string, run: callable}> run() returns ['read' => [queue => messages expected], 'objects' => ?list, 'delete' => ?queues] */
    private function shapes(): array
    {
        return [
            'some_job' => [
                'about' => 'SomeJob(42, "hello") dispatched: the first publish (headers laravel.attempts 0)',
                'run' => function () {
                    dispatch(new Jobs\SomeJob(42, 'hello'));

                    return ['read' => ['default' => 1]];
                },
            ],
            'named_queue_job' => [
                'about' => 'SomeJob(7, "emails")->onQueue("emails"): queue and routing key emails',
                'run' => function () {
                    dispatch((new Jobs\SomeJob(7, 'emails'))->onQueue('emails'));

                    return ['read' => ['emails' => 1]];
                },
            ],
            'delayed_job' => [
                'about' => 'SomeJob(8, "later")->delay(60): published to default.delay.60000 (TTL 60000, expires 120000, dead-lettered to "" / default)',
                'run' => function () {
                    dispatch((new Jobs\SomeJob(8, 'later'))->delay(60));

                    return ['read' => ['default.delay.60000' => 1]];
                },
            ],
            'dead_lettered_job' => [
                'about' => 'SomeJob(13, "expired")->delay(1), read from default after the broker dead-lettered it there from default.delay.1000 (then deleted): x-death and x-first-death-* headers added by RabbitMQ',
                'run' => function () {
                    dispatch((new Jobs\SomeJob(13, 'expired'))->delay(1));

                    // Its delay queue expires 2 s after its last use: deleted, so that queues.json
                    // does not depend on how fast the capture ran.
                    return ['read' => ['default' => 1], 'delete' => ['default.delay.1000']];
                },
            ],
            'released_job' => [
                'about' => 'FailingJob(4, tries 3, backoff 30) run once by queue:work: released with 30 s, a new message in default.delay.30000 with laravel.attempts 1',
                'run' => function () {
                    dispatch(new Jobs\FailingJob(4, 3, 30));
                    $this->work('rabbitmq');

                    return ['read' => ['default.delay.30000' => 1]];
                },
            ],
            'released_now_job' => [
                'about' => 'FailingJob(5, tries 3, backoff 0) run once by queue:work: released without delay, republished to default with laravel.attempts 1',
                'run' => function () {
                    dispatch(new Jobs\FailingJob(5, 3, 0));
                    $this->work('rabbitmq');

                    return ['read' => ['default' => 1]];
                },
            ],
            'retried_job' => [
                'about' => 'FailingJob(6, tries 1) failed by queue:work (failed_jobs row), then queue:retry: the failed_jobs payload published again, laravel.attempts 0',
                'run' => function () {
                    dispatch(new Jobs\FailingJob(6, 1, 0));
                    $this->work('rabbitmq');
                    $this->callSilent('queue:retry', ['id' => ['all']]);

                    return ['read' => ['default' => 1]];
                },
            ],
            'rerouted_failed_job' => [
                'about' => 'reroute_failed: FailingJob(7, tries 1) on queue "rerouted" (declared with x-dead-letter-exchange "" and x-dead-letter-routing-key rerouted.failed) failed by queue:work: rejected, dead-lettered to rerouted.failed',
                'run' => function () {
                    $this->declareQueue('rerouted.failed');
                    dispatch((new Jobs\FailingJob(7, 1, 0))->onConnection('rabbitmq-reroute'));
                    $this->work('rabbitmq-reroute');
                    return ['read' => ['rerouted.failed' => 1]];
                },
            ],
            'prioritized_job' => [
                'about' => 'prioritize_delayed: SomeJob(14, "prio") on queue "prioritized" (x-max-priority 2): priority property = attempts (0)',
                'run' => function () {
                    dispatch((new Jobs\SomeJob(14, 'prio'))->onConnection('rabbitmq-priority'));

                    return ['read' => ['prioritized' => 1]];
                },
            ],
            'priority_property_job' => [
                'about' => 'PriorityJob(1) with public $priority = 7: the message priority property is 7',
                'run' => function () {
                    dispatch(new Jobs\PriorityJob(1));

                    return ['read' => ['default' => 1]];
                },
            ],
            'exchange_job' => [
                'about' => 'exchange larq-exchange, exchange_routing_key app.%s: published to larq-exchange with key app.default (read from a queue bound to it)',
                'run' => function () {
                    $this->bind('app-jobs', 'larq-exchange', 'app.default');
                    dispatch((new Jobs\SomeJob(15, 'exchange'))->onConnection('rabbitmq-exchange'));

                    return ['read' => ['app-jobs' => 1]];
                },
            ],
            'exchange_delayed_job' => [
                'about' => 'the same connection, ->delay(45): default.delay.45000 dead-letters to larq-exchange with key app.default',
                'run' => function () {
                    $this->bind('app-jobs', 'larq-exchange', 'app.default');
                    dispatch((new Jobs\SomeJob(16, 'exchange later'))->onConnection('rabbitmq-exchange')->delay(45));

                    return ['read' => ['default.delay.45000' => 1]];
                },
            ],
            'encrypted_job' => [
                'about' => 'EncryptedJob (ShouldBeEncrypted): data.command is ciphertext; the driver decrypts it to look for $priority',
                'run' => function () {
                    dispatch(new Jobs\EncryptedJob());

                    return ['read' => ['default' => 1]];
                },
            ],
            'chain' => [
                'about' => 'Bus::chain([ChainStep 1,2,3])->onQueue("chains"): the first link',
                'run' => function () {
                    Bus::chain([new Jobs\ChainStep(1), new Jobs\ChainStep(2), new Jobs\ChainStep(3)])->onQueue('chains')->dispatch();

                    return ['read' => ['chains' => 1]];
                },
            ],
            'batch' => [
                'about' => 'Bus::batch([BatchStep 1, BatchStep 2]): bulk() publishes both in one batch (batch_basic_publish), without JobQueued events',
                'run' => function () {
                    $jobs = [new Jobs\BatchStep(1), new Jobs\BatchStep(2)];
                    Bus::batch($jobs)->name('fixture batch')->allowFailures()->dispatch();

                    return ['read' => ['default' => 2], 'objects' => $jobs];
                },
            ],
            'string_payload' => [
                'about' => 'Queue::connection("rabbitmq")->push("App\\Jobs\\Legacy@handle", $data): no command',
                'run' => function () {
                    Queue::connection('rabbitmq')->push('App\Jobs\Legacy@handle', ['order' => 5, 'path' => 'a/b', 'tags' => ['x', 'y'], 'price' => 9.5]);

                    return ['read' => ['default' => 1]];
                },
            ],
        ];
    }

    /** Laravel's own worker takes one job from the connection's default queue. */
    private function work(string $connection): void
    {
        $this->callSilent('queue:work', ['connection' => $connection, '--once' => true, '--sleep' => 0]);
    }

    /** Every message now in $queue, taken with basic_get and acked. */
    private function drain(string $queue): array
    {
        $out = [];
        try {
            while (($m = $this->channel()->basic_get($queue)) !== null) {
                $out[] = $m;
                $this->channel()->basic_ack($m->getDeliveryTag());
            }
        } catch (AMQPProtocolChannelException $e) {
            $this->channel = null;
            if ($e->amqp_reply_code !== 404) {
                throw $e;
            }
        }

        return $out;
    }

    /** Waits (up to 15 s) until $queue holds $n messages ready. */
    private function waitFor(string $queue, int $n): void
    {
        $deadline = microtime(true) + 15;
        do {
            try {
                [, $ready] = $this->channel()->queue_declare($queue, true);
            } catch (AMQPProtocolChannelException $e) {
                $this->channel = null;
                $ready = 0;
            }
            if ($ready >= $n) {
                return;
            }
            usleep(100000);
        } while (microtime(true) < $deadline);
        $this->error("$queue did not reach $n messages in 15 s");
    }

    private function declareQueue(string $queue): void
    {
        $this->channel()->queue_declare($queue, false, true, false, false);
    }

    /** What a user of an exchange does: the exchange and a queue bound to it. */
    private function bind(string $queue, string $exchange, string $key): void
    {
        $this->channel()->exchange_declare($exchange, 'direct', false, true, false);
        $this->declareQueue($queue);
        $this->channel()->queue_bind($queue, $exchange, $key);
    }

    private function channel(): AMQPChannel
    {
        return $this->channel ??= $this->reader->channel();
    }

    /** The message as delivered, without its body (see the class comment). */
    private function envelope(string $queue, AMQPMessage $m): array
    {
        $props = $m->get_properties();
        $properties = [];
        // The basic class's properties in their AMQP order.
        foreach (['content_type', 'content_encoding', 'application_headers', 'delivery_mode', 'priority', 'correlation_id', 'reply_to', 'expiration', 'message_id', 'timestamp', 'type', 'user_id', 'app_id', 'cluster_id'] as $key) {
            if (array_key_exists($key, $props)) {
                $properties[$key] = $props[$key] instanceof AMQPTable ? self::native($props[$key]) : $props[$key];
            }
        }
        $headers = $props['application_headers'] ?? null;

        return [
            'queue' => $queue,
            'exchange' => $m->getExchange(),
            'routing_key' => $m->getRoutingKey(),
            'redelivered' => (bool) $m->isRedelivered(),
            'properties' => $properties,
            'header_types' => $headers instanceof AMQPTable ? self::types($headers) : null,
            'queue_arguments' => null,
        ];
    }

    /** Header values as JSON: tables as objects, arrays as lists, timestamps (T) as Unix seconds. */
    private static function native(AMQPAbstractCollection $collection): array
    {
        $out = [];
        foreach ($collection as $key => [, $value]) {
            if ($value instanceof AMQPAbstractCollection) {
                $value = self::native($value);
            } elseif ($value instanceof \DateTimeInterface) {
                $value = $value->getTimestamp();
            } elseif (is_object($value)) {
                $value = (string) $value;
            }
            $out[$key] = $value;
        }

        return $out;
    }

    /** The AMQP field type letter of every header value: a table {"F": {...}}, an array {"A": [...]}. */
    private static function types(AMQPAbstractCollection $collection)
    {
        $out = [];
        foreach ($collection as $key => [$type, $value]) {
            $symbol = AMQPAbstractCollection::getSymbolForDataType($type);
            $out[$key] = $value instanceof AMQPAbstractCollection ? [$symbol => self::types($value)] : $symbol;
        }

        return $out;
    }

    /** @return array{0: ?array, 1: string} */
    private function expectation(?array $source, string $body): array
    {
        $payload = json_decode($body, true);
        if (! isset($payload['data']['command'])) {
            return [['displayName' => $payload['displayName'] ?? null, 'job' => $payload['job'] ?? null], 'string payload: displayName/job only (no command)'];
        }
        if ($source === null || $source['tree'] === null) {
            return [null, 'NO EXPECTATION: no live object for this message'];
        }
        $job = $source['job'];
        $encrypted = $job instanceof ShouldBeEncrypted || ! empty($job->shouldBeEncrypted);
        $command = $payload['data']['command'];
        if (strncmp($command, 'O:', 2) !== 0) {
            $command = app('encrypter')->decrypt($command);
        }
        if (ValueTree::write($source['tree']) !== $command) {
            return [null, 'NO EXPECTATION: the walked tree does not reproduce the stored command'];
        }
        $expectation = [
            'displayName' => method_exists($job, 'displayName') ? $job->displayName() : get_class($job),
            'commandName' => get_class($job),
            'command' => $source['tree'],
        ];
        if ($encrypted) {
            $expectation['encrypted'] = true;
        }

        return [$expectation, 'expectation from the live object'.($encrypted ? ' (decrypted inner object)' : '')];
    }

    private function writeManifest(string $out, array $rows): void
    {
        $md = "# RabbitMQ corpus manifest\n\nWritten by `php artisan fixtures:capture-rabbitmq` (run through `php-fixtures/capture-rabbitmq`) on Laravel "
            .\Illuminate\Foundation\Application::VERSION.', the `rabbitmq` connection in the format of vladimir-yuldashev/laravel-queue-rabbitmq 14.x. '
            ."`<name>.json` is the message body byte for byte, `<name>.amqp.json` its envelope (queue read from, exchange, routing key, properties, header types, "
            ."the queue's x-arguments), `<name>.expect.json` the command's value tree from the live object. `queues.json`: every queue the capture left, "
            ."with its arguments (rabbitmqctl list_queues).\n\n"
            ."| message | read from | what it is | expectation |\n|---|---|---|---|\n";
        foreach ($rows as $r) {
            $md .= '| '.implode(' | ', array_map(fn ($c) => str_replace('|', '\\|', $c), $r))." |\n";
        }
        file_put_contents("$out/MANIFEST.md", $md);
    }

    private static function json($data): string
    {
        return json_encode($data, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION);
    }
}
