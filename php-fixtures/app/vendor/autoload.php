<?php
// Our own autoloader: Debian's packaged framework (and its dependencies) plus
// a PSR-4 mapping for this application's App\ namespace.
require_once '/usr/share/php/Illuminate/autoload.php';

// Debian's php-amqplib (the RabbitMQ client of the `rabbitmq` queue connection, app/Queue/RabbitMQ).
// Optional: without the package the app runs as before and only that connection is unusable.
if (is_file('/usr/share/php/PhpAmqpLib/autoload.php')) {
    require_once '/usr/share/php/PhpAmqpLib/autoload.php';
}

spl_autoload_register(function (string $class): void {
    if (strncmp($class, 'App\\', 4) !== 0) {
        return;
    }
    $file = dirname(__DIR__).'/app/'.str_replace('\\', '/', substr($class, 4)).'.php';
    if (is_file($file)) {
        require $file;
    }
});
