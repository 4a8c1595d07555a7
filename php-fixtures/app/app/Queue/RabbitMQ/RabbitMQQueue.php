<?php

namespace App\Queue\RabbitMQ;

use Illuminate\Contracts\Queue\ClearableQueue;
use Illuminate\Contracts\Queue\Queue as QueueContract;
use Illuminate\Contracts\Queue\ShouldBeEncrypted;
use Illuminate\Queue\Queue;
use Illuminate\Support\Facades\Crypt;
use Illuminate\Support\Str;
use PhpAmqpLib\Channel\AMQPChannel;
use PhpAmqpLib\Connection\AbstractConnection;
use PhpAmqpLib\Exception\AMQPChannelClosedException;
use PhpAmqpLib\Exception\AMQPConnectionClosedException;
use PhpAmqpLib\Exception\AMQPProtocolChannelException;
use PhpAmqpLib\Exception\AMQPRuntimeException;
use PhpAmqpLib\Message\AMQPMessage;
use PhpAmqpLib\Wire\AMQPTable;

/**
 * The `rabbitmq` queue driver of the fixture app: our own implementation of what
 * vladimir-yuldashev/laravel-queue-rabbitmq 14.x (v14.5.3) puts on the wire and how its
 * `queue:work` takes jobs (see php-fixtures/README.md, "RabbitMQ").
 *
 * Publishing: the body is Laravel's JSON payload with one more top-level key, `id` (a fresh UUID,
 * also the message's correlation_id and the id push() returns). Properties: content_type
 * application/json, delivery_mode 2, correlation_id, `priority` (attempts with prioritize_delayed,
 * or the command's own public $priority), headers {"laravel": {"attempts": N}} with N the attempts
 * already made (0 on a first publish). The message goes to the configured exchange (default: the
 * default exchange '') with routing key sprintf(exchange_routing_key, queue), mandatory. Without an
 * exchange, the destination queue is declared durable (with the configured x-arguments) when a
 * passive declare does not find it; with an exchange, the exchange is declared when missing and
 * binding is left to the user.
 *
 * Delay (later(), release($delay > 0)): the message is published through the default exchange to
 * `<queue>.delay.<ms>`, declared with x-message-ttl = ms, x-expires = 2 ms and dead-lettering to
 * the configured exchange with the queue's routing key, so the broker moves it into the queue when
 * the TTL runs out.
 *
 * Taking jobs: basic_get on the queue (no declare; a missing queue is an empty one). Delete = ack;
 * release = a new message with attempts = this attempt's number, then ack; fail = reject without
 * requeue (dead-lettered only when the queue was declared with reroute_failed); a worker stopping
 * with an unfinished job rejects it with requeue.
 */
class RabbitMQQueue extends Queue implements QueueContract, ClearableQueue
{
    protected AbstractConnection $amqp;

    protected ?AMQPChannel $channel = null;

    protected RabbitMQOptions $options;

    /** Queues a passive declare has found (name => true): not checked again. */
    protected array $knownQueues = [];

    /** Exchanges a passive declare has found. */
    protected array $knownExchanges = [];

    /** The job pop() handed out last, rejected back if the worker stops before finishing it. */
    protected ?RabbitMQJob $current = null;

    public function __construct(AbstractConnection $amqp, RabbitMQOptions $options)
    {
        $this->amqp = $amqp;
        $this->options = $options;
        $this->dispatchAfterCommit = $options->afterCommit;
    }

    public function getQueue($queue = null): string
    {
        return $queue ?: $this->options->queue;
    }

    public function getOptions(): RabbitMQOptions
    {
        return $this->options;
    }

    public function getAmqpConnection(): AbstractConnection
    {
        return $this->amqp;
    }

    // ---- sizes -------------------------------------------------------------------------------

    /** Messages ready in the queue (a passive declare's message count); 0 for a missing queue. */
    public function size($queue = null): int
    {
        $name = $this->getQueue($queue);
        $found = $this->passiveQueueDeclare($name);

        return $found === null ? 0 : $found[1];
    }

    public function pendingSize($queue = null): int
    {
        return $this->size($queue);
    }

    /** Delayed messages wait in other queues: not counted, as in the package. */
    public function delayedSize($queue = null): int
    {
        return 0;
    }

    public function reservedSize($queue = null): int
    {
        return 0;
    }

    public function creationTimeOfOldestPendingJob($queue = null)
    {
        return null;
    }

    /**
     * queue:clear: purges the queue and returns how many messages it dropped. (The package has no
     * clear(); its `rabbitmq:queue-purge` command does the same purge.)
     */
    public function clear($queue): int
    {
        $name = $this->getQueue($queue);
        if ($this->passiveQueueDeclare($name) === null) {
            return 0;
        }

        return $this->withTemporaryChannel(fn (AMQPChannel $ch) => (int) $ch->queue_purge($name));
    }

    // ---- publishing --------------------------------------------------------------------------

    public function push($job, $data = '', $queue = null)
    {
        return $this->enqueueUsing(
            $job,
            $this->createPayload($job, $this->getQueue($queue), $data),
            $queue,
            null,
            fn ($payload, $queue) => $this->pushRaw($payload, $queue)
        );
    }

    /** Options: `attempts` (header value, default 0), `exchange` (instead of the configured one). */
    public function pushRaw($payload, $queue = null, array $options = [])
    {
        $queue = $this->getQueue($queue);
        $routingKey = $this->options->routingKey($queue);
        $exchange = $options['exchange'] ?? $this->options->exchange;
        $this->ensureDestination($routingKey, $exchange);

        [$message, $id] = $this->message($payload, (int) (($options['attempts'] ?? 0) ?: 0));
        $this->channel()->basic_publish($message, $exchange, $routingKey, true);

        return $id;
    }

    public function later($delay, $job, $data = '', $queue = null)
    {
        return $this->enqueueUsing(
            $job,
            $this->createPayload($job, $this->getQueue($queue), $data),
            $queue,
            $delay,
            fn ($payload, $queue, $delay) => $this->laterRaw($delay, $payload, $queue)
        );
    }

    /** Publishes $payload to arrive in $queue after $delay (seconds, DateTime or DateInterval). */
    public function laterRaw($delay, string $payload, $queue = null, int $attempts = 0)
    {
        $ttl = $this->secondsUntil($delay) * 1000;
        if ($ttl <= 0) {
            return $this->pushRaw($payload, $queue, ['delay' => $delay, 'attempts' => $attempts]);
        }

        $queue = $this->getQueue($queue);
        // The queue the message will be dead-lettered into must exist first.
        $this->ensureDestination($this->options->routingKey($queue), $this->options->exchange);

        $delayQueue = $queue.'.delay.'.$ttl;
        // Declared every time (the arguments are fixed by the name, so this is idempotent).
        $this->channel()->queue_declare($delayQueue, false, true, false, false, false, new AMQPTable($this->options->delayQueueArguments($queue, $ttl)));

        [$message, $id] = $this->message($payload, $attempts);
        $this->channel()->basic_publish($message, '', $delayQueue, true);

        return $id;
    }

    /**
     * Batches (Bus::batch) arrive here: every job is published in one batch, without the
     * JobQueued events push() fires (as the package does).
     */
    public function bulk($jobs, $data = '', $queue = null)
    {
        foreach ((array) $jobs as $job) {
            $payload = $this->createPayload($job, $queue, $data);
            $name = $this->getQueue($queue);
            $routingKey = $this->options->routingKey($name);
            $exchange = $this->options->exchange;
            $this->ensureDestination($routingKey, $exchange);
            [$message] = $this->message($payload, 0);
            $this->channel()->batch_basic_publish($message, $exchange, $routingKey);
        }
        $this->channel()->publish_batch();
    }

    /** Laravel's payload plus `id`, a fresh UUID (the correlation_id and the job id). */
    protected function createPayloadArray($job, $queue, $data = '')
    {
        return array_merge(parent::createPayloadArray($job, $queue, $data), [
            'id' => (string) Str::uuid(),
        ]);
    }

    /** @return array{0: AMQPMessage, 1: ?string} the message and its correlation id */
    protected function message(string $payload, int $attempts): array
    {
        $properties = [
            'content_type' => 'application/json',
            'delivery_mode' => AMQPMessage::DELIVERY_MODE_PERSISTENT,
        ];
        $decoded = json_decode($payload, true);
        $id = $decoded['id'] ?? null;
        if ($id) {
            $properties['correlation_id'] = $id;
        }
        if ($this->options->prioritizeDelayed) {
            $properties['priority'] = $attempts;
        }
        // A command with a public $priority property sets the message priority (the package reads
        // it from the unserialized, for ShouldBeEncrypted first decrypted, command).
        if (isset($decoded['data']['command'])) {
            $command = $decoded['data']['command'];
            if (is_subclass_of($decoded['data']['commandName'] ?? '', ShouldBeEncrypted::class)) {
                $command = Crypt::decrypt($command);
            }
            $object = unserialize($command);
            if (is_object($object) && property_exists($object, 'priority')) {
                $properties['priority'] = $object->priority;
            }
        }

        $message = new AMQPMessage($payload, $properties);
        $message->set('application_headers', new AMQPTable(['laravel' => ['attempts' => $attempts]]));

        return [$message, $id];
    }

    // ---- taking jobs -------------------------------------------------------------------------

    public function pop($queue = null)
    {
        $queue = $this->getQueue($queue);
        $class = $this->options->jobClass;
        if (! is_a($class, RabbitMQJob::class, true)) {
            throw new \RuntimeException("rabbitmq: the job class $class must extend ".RabbitMQJob::class);
        }
        try {
            $message = $this->channel()->basic_get($queue);
        } catch (AMQPProtocolChannelException $e) {
            // A queue nobody declared yet: the broker closed the channel with 404.
            if ($e->amqp_reply_code === 404) {
                $this->channel(true);

                return null;
            }
            throw $e;
        } catch (AMQPChannelClosedException|AMQPConnectionClosedException $e) {
            // "Lost connection" makes Laravel's worker stop (DetectsLostConnections).
            throw new AMQPRuntimeException('Lost connection: '.$e->getMessage(), $e->getCode(), $e);
        }
        if ($message === null) {
            return null;
        }

        return $this->current = new $class($this->container, $this, $message, $this->connectionName, $queue);
    }

    public function ack(RabbitMQJob $job): void
    {
        $this->channel()->basic_ack($job->getRabbitMQMessage()->getDeliveryTag());
    }

    public function reject(RabbitMQJob $job, bool $requeue = false): void
    {
        $this->channel()->basic_reject($job->getRabbitMQMessage()->getDeliveryTag(), $requeue);
    }

    /** On WorkerStopping: hand an unfinished job back to the broker, then close the connection. */
    public function close(): void
    {
        if ($this->current !== null && ! $this->current->isDeletedOrReleased()) {
            $this->reject($this->current, true);
        }
        try {
            $this->amqp->close();
        } catch (\ErrorException $e) {
            // the socket is already gone
        }
    }

    // ---- declarations ------------------------------------------------------------------------

    /** Makes sure a message published to ($routingKey, $exchange) has somewhere to go. */
    protected function ensureDestination(string $routingKey, string $exchange): void
    {
        if ($exchange !== '') {
            if (! isset($this->knownExchanges[$exchange]) && ! $this->exchangeExists($exchange)) {
                // durable, not auto-deleted, not internal, nowait
                $this->channel()->exchange_declare($exchange, $this->options->amqpExchangeType(), false, true, false, false, true, new AMQPTable([]));
            }

            return;
        }
        if (isset($this->knownQueues[$routingKey]) || $this->passiveQueueDeclare($routingKey) !== null) {
            return;
        }
        $this->channel()->queue_declare($routingKey, false, true, false, false, false, new AMQPTable($this->options->queueArguments($routingKey)));
    }

    /** [name, message count, consumer count] of an existing queue, null when it does not exist. */
    protected function passiveQueueDeclare(string $name): ?array
    {
        try {
            $result = $this->withTemporaryChannel(fn (AMQPChannel $ch) => $ch->queue_declare($name, true));
        } catch (AMQPProtocolChannelException $e) {
            if ($e->amqp_reply_code === 404) {
                return null;
            }
            throw $e;
        }
        $this->knownQueues[$name] = true;

        return $result;
    }

    protected function exchangeExists(string $name): bool
    {
        try {
            $this->withTemporaryChannel(fn (AMQPChannel $ch) => $ch->exchange_declare($name, '', true));
        } catch (AMQPProtocolChannelException $e) {
            if ($e->amqp_reply_code === 404) {
                return false;
            }
            throw $e;
        }
        $this->knownExchanges[$name] = true;

        return true;
    }

    /** Runs $f on a channel of its own, so a 404 closes that channel and not the main one. */
    protected function withTemporaryChannel(callable $f)
    {
        $ch = $this->amqp->channel();
        $result = $f($ch);
        $ch->close();

        return $result;
    }

    public function channel(bool $fresh = false): AMQPChannel
    {
        if ($this->channel === null || $fresh) {
            $this->channel = $this->amqp->channel();
        }

        return $this->channel;
    }
}
