<?php

namespace App\Providers;

use App\Queue\RabbitMQ\RabbitMQConnector;
use Illuminate\Queue\QueueManager;
use Illuminate\Support\ServiceProvider;

/**
 * Registers the `rabbitmq` queue driver (app/Queue/RabbitMQ) with the queue manager, whenever the
 * manager is made: the framework's QueueServiceProvider is deferred, so this does not load it.
 */
class RabbitMQServiceProvider extends ServiceProvider
{
    public function register()
    {
        $add = function (QueueManager $manager) {
            $manager->addConnector('rabbitmq', fn () => new RabbitMQConnector($this->app['events']));
        };
        if ($this->app->resolved('queue')) {
            $add($this->app['queue']);
        } else {
            $this->app->afterResolving('queue', $add);
        }
    }
}
