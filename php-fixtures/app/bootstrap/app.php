<?php
// Builds the application container and binds the two kernels a console app needs.
$app = new Illuminate\Foundation\Application(
    $_ENV['APP_BASE_PATH'] ?? dirname(__DIR__)
);

// A test may give the app a storage directory of its own (Application::useStoragePath), so that
// `php artisan down` there does not pause the other tests' workers.
if (($_SERVER['APP_STORAGE_PATH'] ?? getenv('APP_STORAGE_PATH')) ?: null) {
    $app->useStoragePath($_SERVER['APP_STORAGE_PATH'] ?? getenv('APP_STORAGE_PATH'));
}

$app->singleton(Illuminate\Contracts\Console\Kernel::class, App\Console\Kernel::class);
$app->singleton(Illuminate\Contracts\Debug\ExceptionHandler::class, App\Exceptions\Handler::class);

return $app;
