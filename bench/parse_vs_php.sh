#!/usr/bin/env bash
# larq's PHP-serialize reader against PHP's native unserialize(), on the same bytes, in one run:
# the captured Laravel corpus (data.command of every php-fixtures/corpus/*.json) and a large
# synthetic job. Prints MB/s for both and the ratio. Usage: bench/parse_vs_php.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cargo build -q --release --example parse_throughput
bin=target/release/examples/parse_throughput
$bin --write-synthetic "$tmp" >/dev/null
files=( $(ls php-fixtures/corpus/*.json | grep -v '\.expect\.json$' | grep -v '/malformed' ) "$tmp"/*.ser )
larq_out=$($bin "${files[@]}")
php_out=$(php bench/unserialize.php "${files[@]}")
echo "$larq_out"; echo "$php_out"
for g in corpus synthetic; do
  l=$(echo "$larq_out" | awk -v g="$g:" '$2==g {print $(NF-1)}')
  p=$(echo "$php_out" | awk -v g="$g:" '$2==g {print $(NF-1)}')
  [ -n "$l" ] && [ -n "$p" ] && awk -v l="$l" -v p="$p" -v g="$g" 'BEGIN {printf "ratio %s: larq/php = %.2fx\n", g, l/p}'
done
