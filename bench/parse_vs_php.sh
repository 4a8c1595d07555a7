#!/usr/bin/env bash
# larq's PHP-serialize reader against PHP's native unserialize(), on the same bytes, in one run:
# the captured Laravel corpus (data.command of every php-fixtures/corpus/laravel-8/*.json, when present),
# realistic Laravel 8 job commands written by PHP itself with Laravel's real traits
# (bench/gen_jobs.php, one group per job) and a large synthetic job. Prints MB/s for larq's
# `Value::parse`, for a typed `from_bytes::<SomeJob>` (2 of the job's fields, the rest skipped)
# and for PHP, and the ratios. Usage: bench/parse_vs_php.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cargo build -q --release --example parse_throughput
bin=${CARGO_TARGET_DIR:-target}/release/examples/parse_throughput
$bin --write-synthetic "$tmp" >/dev/null
php bench/gen_jobs.php "$tmp" >/dev/null
shopt -s nullglob
corpus=()
for f in php-fixtures/corpus/laravel-8/*.json; do
  case "$f" in *.expect.json|*/malformed*) ;; *) corpus+=("$f") ;; esac
done
[ ${#corpus[@]} -eq 0 ] && echo "(no php-fixtures/corpus/laravel-8/*.json: synthetic and generated jobs only)"
files=( "${corpus[@]}" "$tmp"/*.ser )
larq_out=$($bin "${files[@]}")
php_out=$(php bench/unserialize.php "${files[@]}")
echo "$larq_out"; echo "$php_out"
# Ratios per CPU-second (the machine is shared: another process's load slows both sides' wall
# clocks unevenly), then per wall-second.
for g in $(echo "$php_out" | awk '{print $2}' | tr -d :); do
  for clock in cpu wall; do
    col='$(NF-1)'; [ $clock = wall ] && col='$(NF-4)'
    l=$(echo "$larq_out" | awk -v g="$g:" '$1=="larq" && $2==g {print '"$col"'}')
    t=$(echo "$larq_out" | awk -v g="$g:" '$1=="larq-typed" && $2==g {print '"$col"'}')
    p=$(echo "$php_out" | awk -v g="$g:" '$2==g {print '"$col"'}')
    [ -n "$l" ] && [ -n "$t" ] && [ -n "$p" ] &&
      awk -v l="$l" -v t="$t" -v p="$p" -v g="$g" -v c="$clock" \
        'BEGIN {printf "ratio %s (%s): Value::parse/php = %.2fx, from_bytes::<SomeJob>/php = %.2fx\n", g, c, l/p, t/p}'
  done
done
