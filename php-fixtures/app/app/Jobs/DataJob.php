<?php

namespace App\Jobs;

use App\Support\Recorder;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/** Nested lists and maps, awkward keys, awkward strings. */
class DataJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public $list = [1, [2, [3, []]], "x"];
    public $map = ["name" => "Ada", "tags" => ["a" => 1, "b" => [true, false, null]]];
    public $keys = [10 => "int ten", "010" => "string oh-ten", -5 => "negative", "-5x" => "not numeric", "" => "empty key", PHP_INT_MAX => "max", "9223372036854775808" => "beyond i64"];
    public $sparse = [3 => "c", 1 => "a", 2 => "b"];
    public $utf8 = "\u{4e2d}\u{6587} \u{65e5}\u{672c}\u{8a9e} \u{1f600}\u{1f680} caf\u{e9}";
    public $empty = "";
    public $emptyArray = [];
    public $quotes = "she said \"hi\"; {braces} a:1:{i:0;s:1:\"x\";} back\\\\slash";
    public $nul = "a\0b\0\0c";
    public $controls = "tab\tnl\ncr\r\u{2028}\u{7f}";
    public $slashes = "http://example.com/a/b";
    protected $prot = ["deep" => ["deeper" => ["deepest" => "yes"]]];
    private $priv = "\0*\0looks mangled";

    public function handle()
    {
        Recorder::record($this);
    }
}
