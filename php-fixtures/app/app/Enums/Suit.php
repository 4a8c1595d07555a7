<?php

namespace App\Enums;

/** A pure (non-backed) enum. */
enum Suit
{
    case Hearts;
    case Spades;
}
