<?php
namespace App\Console\Commands;
class DispatchShape extends \Illuminate\Console\Command { protected $signature = "x:DispatchShape"; }
