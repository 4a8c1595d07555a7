<?php
namespace App\Console\Commands;
class CaptureFixtures extends \Illuminate\Console\Command { protected $signature = "x:CaptureFixtures"; }
