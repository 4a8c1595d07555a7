<?php
// Builds the application container and binds the two kernels a console app needs.

// The same app directory runs on Laravel 8, 10 and 13 (php-fixtures/bin/php-for). Each version
// caches its own provider manifest: one version must never boot from another's list of deferred
// services.
$larqMajor = (int) Illuminate\Foundation\Application::VERSION;
foreach (['APP_SERVICES_CACHE' => 'services', 'APP_PACKAGES_CACHE' => 'packages'] as $larqVar => $larqFile) {
    if (! isset($_SERVER[$larqVar]) && getenv($larqVar) === false) {
        $_SERVER[$larqVar] = $_ENV[$larqVar] = __DIR__."/cache/{$larqFile}-laravel-{$larqMajor}.php";
    }
}
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
