<?php
// Loads one .env file with the real vlucas/phpdotenv (Debian's php-vlucas-phpdotenv) the way
// Laravel does, and prints what Laravel's env() would then read, as JSON.
//
//   php dump.php FILE.env     print FILE's expectation on stdout
//   php dump.php --write      rewrite every NAME.expect.json beside its NAME.env
//
// Laravel builds its repository with RepositoryBuilder::createWithDefaultAdapters()->immutable():
// variables already in the process environment are never overwritten, and ${VAR} resolves
// against that same repository. Here the process environment is simulated by an ArrayAdapter
// filled from process-env.json, so the output does not depend on the machine's real environment.
// The Rust test (tests/integration/dotenv_corpus.rs) hands larq the same process-env.json.

declare(strict_types=1);

require_once '/usr/share/php/Dotenv/autoload.php';

use Dotenv\Dotenv;
use Dotenv\Parser\Parser;
use Dotenv\Repository\Adapter\ArrayAdapter;
use Dotenv\Repository\RepositoryBuilder;

function expectation(string $file, array $process): array
{
    $adapter = ArrayAdapter::create()->get();
    foreach ($process as $name => $value) {
        $adapter->write($name, $value);
    }
    $repository = RepositoryBuilder::createWithNoAdapters()->addAdapter($adapter)->immutable()->make();
    try {
        Dotenv::create($repository, dirname($file), basename($file))->load();
    } catch (Throwable $e) {
        return ['error' => ['class' => get_class($e), 'message' => $e->getMessage()]];
    }
    // Every name the file mentions, in first-mention order (the file parsed fine just above).
    $vars = [];
    foreach ((new Parser())->parse((string) file_get_contents($file)) as $entry) {
        $vars[$entry->getName()] = $repository->get($entry->getName());
    }
    return ['vars' => (object) $vars];
}

function render(array $expectation): string
{
    return json_encode($expectation, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR) . "\n";
}

$dir = __DIR__;
$process = json_decode((string) file_get_contents("$dir/process-env.json"), true, 8, JSON_THROW_ON_ERROR);

if (($argv[1] ?? '') === '--write') {
    foreach (glob("$dir/*.env") as $file) {
        file_put_contents(substr($file, 0, -4) . '.expect.json', render(expectation($file, $process)));
    }
} elseif (isset($argv[1])) {
    echo render(expectation($argv[1], $process));
} else {
    fwrite(STDERR, "usage: php dump.php FILE.env | --write\n");
    exit(2);
}
