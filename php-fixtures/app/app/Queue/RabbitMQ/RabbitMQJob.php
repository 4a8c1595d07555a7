<?php

namespace App\Queue\RabbitMQ;

use Illuminate\Container\Container;
use Illuminate\Contracts\Queue\Job as JobContract;
use Illuminate\Queue\Jobs\Job;
use PhpAmqpLib\Message\AMQPMessage;

/**
 * One message taken with basic_get. attempts() = the `laravel.attempts` header + 1 (1 without
 * the header): a broker redelivery (crash, requeue) is the same attempt again; only release()
 * counts one more, by publishing a new message.
 */
class RabbitMQJob extends Job implements JobContract
{
    protected RabbitMQQueue $rabbitmq;

    protected AMQPMessage $message;

    protected array $decoded;

    public function __construct(Container $container, RabbitMQQueue $rabbitmq, AMQPMessage $message, string $connectionName, string $queue)
    {
        $this->container = $container;
        $this->rabbitmq = $rabbitmq;
        $this->message = $message;
        $this->connectionName = $connectionName;
        $this->queue = $queue;
        $this->decoded = (array) $this->payload();
    }

    /** The payload's `id` (the message's correlation_id). */
    public function getJobId()
    {
        return $this->decoded['id'] ?? null;
    }

    public function getRawBody()
    {
        return $this->message->getBody();
    }

    public function attempts()
    {
        $headers = $this->message->has('application_headers') ? $this->message->get('application_headers') : null;
        if ($headers === null) {
            return 1;
        }
        $data = $headers->getNativeData();

        return (int) ($data['laravel']['attempts'] ?? 0) + 1;
    }

    /** Failing rejects the message without requeue: the broker drops or dead-letters it. */
    public function markAsFailed()
    {
        parent::markAsFailed();
        $this->rabbitmq->reject($this);
    }

    /** Done: ack (a failed job was already rejected). */
    public function delete()
    {
        parent::delete();
        if (! $this->failed) {
            $this->rabbitmq->ack($this);
        }
    }

    /** A new message carrying this attempt's number (through the delay queue when $delay > 0), then ack. */
    public function release($delay = 0)
    {
        parent::release($delay);
        $this->rabbitmq->laterRaw($delay, $this->message->getBody(), $this->queue, $this->attempts());
        $this->rabbitmq->ack($this);
    }

    public function getRabbitMQ(): RabbitMQQueue
    {
        return $this->rabbitmq;
    }

    public function getRabbitMQMessage(): AMQPMessage
    {
        return $this->message;
    }
}
