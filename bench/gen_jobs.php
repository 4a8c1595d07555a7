<?php
// Realistic Laravel 8 job commands, written by PHP's own serialize() with Laravel's real traits,
// for bench/parse_vs_php.sh (written as DIR/*.job.ser). Usage: php bench/gen_jobs.php DIR
namespace App\Jobs;

require '/usr/share/php/Illuminate/autoload.php';
require '/usr/share/php/Carbon/autoload.php';

use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

// The shape `php artisan make:job` gives: 2 own properties + the 10 that the traits add.
class SomeJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;
    public $userId;
    public $someParam;
    public function __construct($userId, $someParam)
    {
        $this->userId = $userId;
        $this->someParam = $someParam;
    }
}

// A job carrying a moderately sized payload (an order with its lines), as many real jobs do.
class ProcessOrder implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;
    public $userId;
    public $someParam;
    public $order;
    protected $attempt = 1;
    private $secret = 'token-7f3a9c';
    public function __construct($userId, $order)
    {
        $this->userId = $userId;
        $this->someParam = 'order:' . $order['id'];
        $this->order = $order;
    }
}

$dir = $argv[1] ?? '.';
$jobs = [];

$jobs['plain'] = new SomeJob(42, 'héllo/world');

$j = new SomeJob(1234567, str_repeat('payload text ', 8));
$j->onConnection('redis')->onQueue('emails')->delay(\Carbon\Carbon::create(2026, 1, 2, 3, 4, 5, 'UTC'));
$j->chain([new SomeJob(7, 'next'), new SomeJob(8, 'after')]);
$jobs['delayed-chained'] = $j;

$lines = [];
for ($i = 0; $i < 40; $i++) {
    $lines[] = ['sku' => sprintf('SKU-%05d', $i * 37), 'qty' => $i % 5 + 1, 'price' => round(9.99 + $i * 1.25, 2),
        'name' => "Product n°$i", 'taxable' => $i % 2 === 0, 'meta' => null];
}
$order = ['id' => 98765, 'currency' => 'EUR', 'total' => 1234.56, 'lines' => $lines,
    'shipping' => ['street' => '1 Rue de la Paix', 'city' => 'Paris', 'zip' => '75002', 'country' => 'FR']];
$jobs['order'] = (new ProcessOrder(42, $order))->onQueue('orders');

foreach ($jobs as $name => $job) {
    file_put_contents("$dir/$name.job.ser", serialize($job));
    echo "$dir/$name.job.ser\n";
}
