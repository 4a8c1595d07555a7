<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

use Illuminate\Contracts\Queue\ShouldBeEncrypted;

/** data.command is encrypted with the app key (double serialization inside). */
class EncryptedJob implements ShouldQueue, ShouldBeEncrypted
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public function __construct(public string $secret = "s3cr3t \u{1f511}", protected array $card = ["number" => "4111111111111111", "cvc" => 123])
    {
    }

    public function handle()
    {
        Recorder::record($this);
    }
}
