<?php

namespace App\Queue\RabbitMQ;

use Illuminate\Contracts\Events\Dispatcher;
use Illuminate\Queue\Connectors\ConnectorInterface;
use Illuminate\Queue\Events\WorkerStopping;

/** The `rabbitmq` driver's connector: the AMQP connection (lazy by default) and the queue on it. */
class RabbitMQConnector implements ConnectorInterface
{
    private Dispatcher $events;

    public function __construct(Dispatcher $events)
    {
        $this->events = $events;
    }

    public function connect(array $config)
    {
        $worker = strtolower((string) ($config['worker'] ?? 'default'));
        if ($worker !== 'default') {
            throw new \InvalidArgumentException("rabbitmq: only 'worker' => 'default' is supported here (no Horizon), not {$config['worker']}");
        }
        $queue = new RabbitMQQueue(AmqpConnections::open($config), RabbitMQOptions::fromConfig($config));

        // A worker that stops hands its unfinished job back and closes the connection.
        $this->events->listen(WorkerStopping::class, function () use ($queue) {
            $queue->close();
        });

        return $queue;
    }
}
