<?php

namespace App\Values;

/**
 * A legacy Serializable class (no __serialize): serialize() writes it as a C: token whose body is
 * whatever serialize() below returns. PHP 8.1+ reports a deprecation for such classes.
 */
class LegacyBox implements \Serializable
{
    private $items;

    public function __construct(array $items = [])
    {
        $this->items = $items;
    }

    public function serialize()
    {
        return json_encode($this->items);
    }

    public function unserialize($data)
    {
        $this->items = json_decode($data, true);
    }

    public function items(): array
    {
        return $this->items;
    }
}
