<?php

namespace App\Values;

/** A small value class with one property of each visibility. */
final class Money
{
    public $currency;
    protected $cents;
    private $note;

    public function __construct(string $currency, int $cents, ?string $note = null)
    {
        $this->currency = $currency;
        $this->cents = $cents;
        $this->note = $note;
    }
}
