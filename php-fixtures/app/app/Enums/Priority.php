<?php

namespace App\Enums;

enum Priority: int
{
    case Low = -1;
    case High = 10;
}
