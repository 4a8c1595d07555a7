<?php

namespace App\Support;

use ReflectionReference;

/**
 * Builds the "value tree" (see /work/shared/value-tree.md) of a live PHP value by walking it the
 * way serialize() does, without ever calling serialize() on the value itself:
 *
 *  - objects with __serialize(): the array it returns (keys as returned, int keys stay ints);
 *  - Serializable objects (no __serialize): a "custom" node whose data is the object's serialize();
 *  - objects with __sleep(): the returned names, looked up in the property table;
 *  - other objects: the property table from an (array) cast (mangled names, in table order);
 *  - enum cases: enum nodes.
 *
 * Slots follow serialize()'s numbering: every value takes the next slot (top level = 1), an
 * object seen again becomes {"t":"ref","kind":"object"} and still takes a slot, a PHP reference
 * seen again becomes {"t":"ref","kind":"value"} and takes none. Object identity is spl_object_id,
 * references are found with ReflectionReference.
 */
final class ValueTree
{
    /** @var int last slot handed out */
    private $n = 0;

    /** @var array<string,int> 'o<object id>' or 'r<reference id>' => slot */
    private $seen = [];

    /** @var array values kept alive so that object ids are not reused during one walk */
    private $keep = [];

    public static function of($value): array
    {
        return (new self())->walk($value, null);
    }

    /** Tree of a float as serialize() writes it (also usable on its own). */
    public static function float(float $f): array
    {
        $repr = substr(serialize($f), 2, -1);
        if (is_nan($f)) {
            $v = 'NAN';
        } elseif (is_infinite($f)) {
            $v = $f > 0 ? 'INF' : '-INF';
        } elseif ($f == 0.0 && fdiv(1.0, $f) < 0) {
            $v = '-0';
        } else {
            $v = $f;
        }

        return ['t' => 'float', 'v' => $v, 'repr' => $repr];
    }

    public static function string(string $s): array
    {
        return mb_check_encoding($s, 'UTF-8')
            ? ['t' => 'string', 'v' => $s]
            : ['t' => 'string', 'b64' => base64_encode($s)];
    }

    /** JSON text of a tree (or of any array holding trees), in the form the corpus uses. */
    public static function json($data, bool $pretty = true): string
    {
        $flags = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION
            | JSON_THROW_ON_ERROR;

        return json_encode($data, $pretty ? $flags | JSON_PRETTY_PRINT : $flags);
    }

    /**
     * @param  mixed  $v
     * @param  string|null  $refId  the ReflectionReference id when the slot holding $v is a PHP reference
     */
    private function walk($v, ?string $refId): array
    {
        $slot = ++$this->n;
        $key = null;
        if (is_object($v)) {
            // A reference to an object is keyed by the object (as serialize() does).
            $key = 'o'.spl_object_id($v);
            $this->keep[] = $v;
        } elseif ($refId !== null) {
            $key = 'r'.$refId;
        }
        if ($key !== null) {
            if (isset($this->seen[$key])) {
                if ($refId !== null) {
                    $this->n--; // R: takes no slot

                    return ['t' => 'ref', 'kind' => 'value', 'slot' => $this->seen[$key]];
                }

                return ['t' => 'ref', 'kind' => 'object', 'slot' => $this->seen[$key]];
            }
            $this->seen[$key] = $slot;
        }

        if ($v === null) {
            return ['t' => 'null'];
        }
        if (is_bool($v)) {
            return ['t' => 'bool', 'v' => $v];
        }
        if (is_int($v)) {
            return ['t' => 'int', 'v' => $v];
        }
        if (is_float($v)) {
            return self::float($v);
        }
        if (is_string($v)) {
            return self::string($v);
        }
        if (is_array($v)) {
            $items = [];
            foreach (array_keys($v) as $k) {
                $items[] = [$k, $this->walk($v[$k], self::refId($v, $k))];
            }

            return ['t' => 'array', 'items' => $items];
        }
        if (is_object($v)) {
            return $this->object($v);
        }

        throw new \InvalidArgumentException('cannot serialize a '.gettype($v));
    }

    private function object(object $o): array
    {
        $class = get_class($o);
        if ($o instanceof \UnitEnum) {
            return ['t' => 'enum', 'class' => $class, 'case' => $o->name];
        }
        if (method_exists($o, '__serialize')) {
            $data = $o->__serialize();
            $this->keep[] = $data;

            return ['t' => 'object', 'class' => $class, 'props' => $this->members($data, true)];
        }
        if ($o instanceof \Serializable) {
            $data = $o->serialize();
            if ($data === null) {
                return ['t' => 'null'];
            }

            return mb_check_encoding($data, 'UTF-8')
                ? ['t' => 'custom', 'class' => $class, 'data' => $data]
                : ['t' => 'custom', 'class' => $class, 'data_b64' => base64_encode($data)];
        }
        $table = (array) $o;
        $this->keep[] = $table;
        if (method_exists($o, '__sleep')) {
            $picked = [];
            foreach ($o->__sleep() as $name) {
                foreach ([$name, "\0".$class."\0".$name, "\0*\0".$name] as $candidate) {
                    if (array_key_exists($candidate, $table)) {
                        $picked[] = $candidate;
                        break;
                    }
                }
            }
            $members = [];
            foreach ($picked as $k) {
                $members[] = $this->member((string) $k, $table, $k, false);
            }

            return ['t' => 'object', 'class' => $class, 'props' => $members];
        }

        return ['t' => 'object', 'class' => $class, 'props' => $this->members($table, false)];
    }

    /** Members of an object from an array: property table (names always strings) or __serialize data. */
    private function members(array $data, bool $intKeysStay): array
    {
        $out = [];
        foreach (array_keys($data) as $k) {
            $name = (is_int($k) && ! $intKeysStay) ? (string) $k : $k;
            $out[] = $this->member($name, $data, $k, $intKeysStay);
        }

        return $out;
    }

    private function member($name, array $data, $k, bool $intKeysStay): array
    {
        if (is_int($name)) {
            $prop = ['name' => $name, 'vis' => 'public'];
        } elseif (strncmp($name, "\0*\0", 3) === 0) {
            $prop = ['name' => substr($name, 3), 'vis' => 'protected'];
        } elseif ($name !== '' && $name[0] === "\0" && ($end = strpos($name, "\0", 1)) !== false) {
            $prop = ['name' => substr($name, $end + 1), 'vis' => 'private', 'class' => substr($name, 1, $end - 1)];
        } else {
            $prop = ['name' => $name, 'vis' => 'public'];
        }
        if (is_string($prop['name']) && ! mb_check_encoding($prop['name'], 'UTF-8')) {
            $prop['name_b64'] = base64_encode($prop['name']);
            unset($prop['name']);
        }
        $prop['v'] = $this->walk($data[$k], self::refId($data, $k));

        return $prop;
    }

    private static function refId(array $a, $k): ?string
    {
        $r = ReflectionReference::fromArrayElement($a, $k);

        return $r === null ? null : bin2hex($r->getId());
    }

    /**
     * Writes a tree back to serialize() text. Used only as a self-check of the walker against the
     * bytes Laravel stored (never to produce a payload or an expectation).
     */
    public static function write(array $node): string
    {
        switch ($node['t']) {
            case 'null': return 'N;';
            case 'bool': return 'b:'.($node['v'] ? 1 : 0).';';
            case 'int': return 'i:'.$node['v'].';';
            case 'float': return 'd:'.$node['repr'].';';
            case 'string':
                $s = isset($node['b64']) ? base64_decode($node['b64']) : $node['v'];

                return 's:'.strlen($s).':"'.$s.'";';
            case 'array':
                $out = 'a:'.count($node['items']).':{';
                foreach ($node['items'] as [$k, $v]) {
                    $out .= (is_int($k) ? 'i:'.$k.';' : 's:'.strlen($k).':"'.$k.'";').self::write($v);
                }

                return $out.'}';
            case 'object':
                $out = 'O:'.strlen($node['class']).':"'.$node['class'].'":'.count($node['props']).':{';
                foreach ($node['props'] as $p) {
                    $name = $p['name'] ?? base64_decode($p['name_b64']);
                    if (is_int($name)) {
                        $out .= 'i:'.$name.';';
                    } else {
                        if ($p['vis'] === 'protected') {
                            $name = "\0*\0".$name;
                        } elseif ($p['vis'] === 'private') {
                            $name = "\0".$p['class']."\0".$name;
                        }
                        $out .= 's:'.strlen($name).':"'.$name.'";';
                    }
                    $out .= self::write($p['v']);
                }

                return $out.'}';
            case 'enum':
                $s = $node['class'].':'.$node['case'];

                return 'E:'.strlen($s).':"'.$s.'";';
            case 'custom':
                $d = $node['data'] ?? base64_decode($node['data_b64']);

                return 'C:'.strlen($node['class']).':"'.$node['class'].'":'.strlen($d).':{'.$d.'}';
            case 'ref':
                return ($node['kind'] === 'object' ? 'r:' : 'R:').$node['slot'].';';
        }
        throw new \InvalidArgumentException('unknown node '.$node['t']);
    }
}
