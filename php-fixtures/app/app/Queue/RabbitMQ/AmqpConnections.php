<?php

namespace App\Queue\RabbitMQ;

use PhpAmqpLib\Connection\AbstractConnection;
use PhpAmqpLib\Connection\AMQPConnectionConfig;
use PhpAmqpLib\Connection\AMQPConnectionFactory;

/**
 * Opens the php-amqplib connection of a `rabbitmq` queue connection from the same config keys the
 * package reads:
 *
 *   hosts: [[host, port, user, password, vhost]]   one entry is picked at random; an empty value
 *                                                  keeps php-amqplib's default (127.0.0.1, 5672,
 *                                                  guest, guest, /)
 *   lazy (default on)        connect on the first use, not when the queue is resolved
 *   secure                   TLS, with options.ssl_options {cafile, local_cert, local_key,
 *                            verify_peer, passphrase}
 *   network_protocol         e.g. tcp
 *   options.heartbeat        seconds (> 0; default 0 = none)
 *   options.connection_timeout, read_timeout, write_timeout, channel_rpc_timeout   seconds
 *   connection               'default': php-amqplib's AMQPConnectionFactory (stream, or SSL
 *                            when secure)
 */
final class AmqpConnections
{
    public static function open(array $config): AbstractConnection
    {
        if (! class_exists(AMQPConnectionConfig::class)) {
            throw new \RuntimeException('The rabbitmq queue connection needs php-amqplib (Debian: apt-get install php-amqplib)');
        }
        $c = new AMQPConnectionConfig();
        $c->setIsLazy(! in_array($config['lazy'] ?? true, [false, 0, '0', 'false', 'no'], true));
        $c->setIsSecure(in_array($config['secure'] ?? null, [true, 1, '1', 'true', 'yes'], true));

        $hosts = $config['hosts'] ?? [];
        $host = $hosts ? $hosts[array_rand($hosts)] : [];
        foreach (['host' => 'setHost', 'port' => 'setPort', 'vhost' => 'setVhost', 'user' => 'setUser', 'password' => 'setPassword'] as $key => $setter) {
            if (! empty($host[$key])) {
                $c->{$setter}($key === 'port' ? (int) $host[$key] : (string) $host[$key]);
            }
        }

        $options = $config['options'] ?? [];
        if ($c->isSecure()) {
            $ssl = $options['ssl_options'] ?? [];
            if (! empty($ssl['cafile'])) {
                $c->setSslCaCert($ssl['cafile']);
            }
            if (! empty($ssl['local_cert'])) {
                $c->setSslCert($ssl['local_cert']);
            }
            if (! empty($ssl['local_key'])) {
                $c->setSslKey($ssl['local_key']);
            }
            if (array_key_exists('verify_peer', $ssl)) {
                $c->setSslVerify(filter_var($ssl['verify_peer'], FILTER_VALIDATE_BOOLEAN));
            }
            if (! empty($ssl['passphrase'])) {
                $c->setSslPassPhrase($ssl['passphrase']);
            }
        }
        $heartbeat = $options['heartbeat'] ?? null;
        if (is_numeric($heartbeat) && (int) $heartbeat > 0) {
            $c->setHeartbeat((int) $heartbeat);
        }
        if (! empty($config['network_protocol'])) {
            $c->setNetworkProtocol($config['network_protocol']);
        }
        foreach (['connection_timeout' => 'setConnectionTimeout', 'read_timeout' => 'setReadTimeout', 'write_timeout' => 'setWriteTimeout', 'channel_rpc_timeout' => 'setChannelRPCTimeout'] as $key => $setter) {
            $v = $options[$key] ?? null;
            if (is_numeric($v) && (float) $v >= 0) {
                $c->{$setter}((float) $v);
            }
        }

        // The package also takes the name of a connection class here; the fixtures need only the
        // default one.
        $class = (string) ($config['connection'] ?? 'default');
        if (strtolower($class) !== 'default') {
            throw new \InvalidArgumentException("rabbitmq: only 'connection' => 'default' is supported here, not $class");
        }

        return AMQPConnectionFactory::create($c);
    }
}
