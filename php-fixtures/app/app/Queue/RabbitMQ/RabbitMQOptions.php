<?php

namespace App\Queue\RabbitMQ;

/**
 * The queue-side settings of a `rabbitmq` connection, read from its config array the way
 * vladimir-yuldashev/laravel-queue-rabbitmq 14.x reads them:
 *
 *   queue                          default queue name ('default')
 *   after_commit                   dispatch after the open database transaction commits (false)
 *   options.queue.job              the job class messages are wrapped in (RabbitMQJob)
 *   options.queue.prioritize_delayed  set the `priority` property to the attempts count and declare
 *                                  queues with x-max-priority (false)
 *   options.queue.queue_max_priority  x-max-priority; only a number above 1 counts (2)
 *   options.queue.exchange         exchange to publish to ('' = the default exchange)
 *   options.queue.exchange_type    type of an exchange this driver declares ('direct')
 *   options.queue.exchange_routing_key  sprintf format of the routing key, %s = queue ('%s')
 *   options.queue.reroute_failed   declare queues with a dead-letter exchange for failed jobs (false)
 *   options.queue.failed_exchange  that exchange ('')
 *   options.queue.failed_routing_key  sprintf format of its routing key ('%s.failed')
 *   options.queue.quorum           declare queues as quorum queues (false)
 *
 * As in the package, a value that PHP considers empty ('' , '0', 0, false, null) leaves the default
 * in place, and switches are read with FILTER_VALIDATE_BOOLEAN ('true', 'yes', '1', 'on' are on).
 */
final class RabbitMQOptions
{
    public string $queue = 'default';
    public bool $afterCommit = false;
    public string $jobClass = RabbitMQJob::class;
    public bool $prioritizeDelayed = false;
    public int $maxPriority = 2;
    public string $exchange = '';
    public string $exchangeType = 'direct';
    public string $routingKeyFormat = '%s';
    public bool $rerouteFailed = false;
    public string $failedExchange = '';
    public string $failedRoutingKeyFormat = '%s.failed';
    public bool $quorum = false;

    public static function fromConfig(array $config): self
    {
        $o = new self();
        if (! empty($config['queue'])) {
            $o->queue = (string) $config['queue'];
        }
        if (! empty($config['after_commit'])) {
            $o->afterCommit = self::flag($config['after_commit']);
        }

        $q = $config['options']['queue'] ?? [];
        if (! is_array($q)) {
            $q = [];
        }
        $set = fn (string $key) => ! empty($q[$key]);

        if ($set('job')) {
            $o->jobClass = (string) $q['job'];
        }
        if ($set('prioritize_delayed')) {
            $o->prioritizeDelayed = self::flag($q['prioritize_delayed']);
        }
        if ($set('queue_max_priority') && is_numeric($q['queue_max_priority']) && (int) $q['queue_max_priority'] > 1) {
            $o->maxPriority = (int) $q['queue_max_priority'];
        }
        if ($set('exchange')) {
            $o->exchange = (string) $q['exchange'];
        }
        if ($set('exchange_type')) {
            $o->exchangeType = (string) $q['exchange_type'];
        }
        if ($set('exchange_routing_key')) {
            $o->routingKeyFormat = (string) $q['exchange_routing_key'];
        }
        if ($set('reroute_failed')) {
            $o->rerouteFailed = self::flag($q['reroute_failed']);
        }
        if ($set('failed_exchange')) {
            $o->failedExchange = (string) $q['failed_exchange'];
        }
        if ($set('failed_routing_key')) {
            $o->failedRoutingKeyFormat = (string) $q['failed_routing_key'];
        }
        if ($set('quorum')) {
            $o->quorum = self::flag($q['quorum']);
        }

        return $o;
    }

    /** The routing key (and, on the default exchange, the queue) of a queue name. */
    public function routingKey(string $queue): string
    {
        return ltrim(sprintf($this->routingKeyFormat, $queue), '.');
    }

    /** The routing key a failed message is dead-lettered with. */
    public function failedRoutingKey(string $queue): string
    {
        return ltrim(sprintf($this->failedRoutingKeyFormat, $queue), '.');
    }

    /** The exchange type as php-amqplib names it; an unknown type is `direct`. */
    public function amqpExchangeType(): string
    {
        $name = 'PhpAmqpLib\Exchange\AMQPExchangeType::'.strtoupper($this->exchangeType);

        return defined($name) ? constant($name) : 'direct';
    }

    /** x-arguments of a work queue this driver declares. */
    public function queueArguments(string $destination): array
    {
        $args = [];
        if ($this->prioritizeDelayed && ! $this->quorum) {
            $args['x-max-priority'] = $this->maxPriority;
        }
        if ($this->rerouteFailed) {
            $args['x-dead-letter-exchange'] = $this->failedExchange;
            $args['x-dead-letter-routing-key'] = $this->failedRoutingKey($destination);
        }
        if ($this->quorum) {
            $args['x-queue-type'] = 'quorum';
        }

        return $args;
    }

    /** x-arguments of the `<queue>.delay.<ms>` queue that holds a message for $ttl ms. */
    public function delayQueueArguments(string $queue, int $ttl): array
    {
        return [
            'x-dead-letter-exchange' => $this->exchange,
            'x-dead-letter-routing-key' => $this->routingKey($queue),
            'x-message-ttl' => $ttl,
            'x-expires' => 2 * $ttl,
        ];
    }

    private static function flag($value): bool
    {
        return filter_var($value, FILTER_VALIDATE_BOOLEAN);
    }
}
