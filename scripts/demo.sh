#!/usr/bin/env bash
# The main job, visibly: the real Laravel app in php-fixtures/ dispatches App\Jobs\SomeJob to Redis
# on 127.0.0.1:6379 (queue `default`, prefix laravel_database_), and the larq backend
# (examples/backend.rs) works the queue until it is empty, printing Laravel's lines and the
# handler's output. Usage: scripts/demo.sh [number of jobs, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
count="${1:-10}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export REDIS_HOST=127.0.0.1 REDIS_PORT=6379
export DB_CONNECTION=sqlite DB_DATABASE="$scratch/demo.sqlite"   # failed_jobs for this run
export LARQ_LARAVEL_VERSION=8 CACHE_DRIVER=redis # the fixture app: Debian's Laravel 8, Redis cache

echo "== building the larq backend"
cargo build -q --release --example backend

echo "== Laravel dispatches $count App\\Jobs\\SomeJob (php artisan larq:dispatch)"
php-fixtures/bin/dispatch SomeJob "$count" --user-id=1 --increment --param=from-laravel \
  | sed -e 's/^/   /'

echo "== queue size before: $(redis-cli -p 6379 llen laravel_database_queues:default)"
echo "== larq works the queue (like php artisan queue:work redis --stop-when-empty)"
"${CARGO_TARGET_DIR:-target}/release/examples/backend" work --env php-fixtures/app/.env --stop-when-empty --sleep=0
echo "== queue size after: $(redis-cli -p 6379 llen laravel_database_queues:default) ready," \
  "$(redis-cli -p 6379 zcard laravel_database_queues:default:reserved) reserved"
