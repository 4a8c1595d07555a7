#!/usr/bin/env bash
# Dispatch-to-handle latency under load: larq and PHP's `queue:work`, idle, behind a 100,000-job
# backlog, and sharing one queue, on one private Redis.
#
#   bench/latency_load.sh [--backlog N] [--n N] [--interval-ms MS] [-c CONCURRENCY] [--php-sleep S]
#                         [--stream-n N] [--skip-php-fifo]
#
# Needs redis-server, redis-cli, php with the fixture app's packages, timeout; fails at once if one
# is missing. Builds examples/latency.rs (the harness) and examples/latency_worker.rs (larq's
# worker: `larq::cli::run` with a no-op SomeJob and an EchoJob handler that records its latency)
# in release mode.
#
# Every measured job is an App\Jobs\EchoJob whose `$float` holds its push time; the harness
# (`latency load`) pushes them with Laravel's push script (RPUSH job + notify token), starts and
# stops the workers itself, and reports p50/p99/max in ms:
#   larq: `now - pushed` taken when the handler starts (latency_worker writes it to a file);
#   PHP:  the arrival of its `Processed:` line on the pipe (includes PHP's handle and delete of a
#         no-op job, well under a millisecond).
# larq runs `work redis --block-for 1 --sleep 0 --concurrency C` (default 64): it waits on the
# notify list as Laravel does with `block_for`. `--sleep 0` because with Laravel's semantics a
# worker whose BLPOP came back empty then sleeps `--sleep` seconds before it blocks again, and a
# job pushed meanwhile waits up to that long (with the default 3 s a first run here measured
# p50 1.9 s for larq): a deployment that sets `block_for` for latency sets the sleep to 0, which
# costs one BLPOP round trip per `block_for` seconds while idle. PHP runs `queue:work redis --sleep=S` (default 3, the
# default), i.e. Laravel's polling: the fixture app's `block_for` is null, as in Laravel's
# skeleton.
#
# Scenarios (one harness run each; the queues are emptied before each):
#   idle               --n jobs (default 200) one every --interval-ms (default 10) on an empty queue.
#   backlog-fifo       the PHP-dispatched backlog (default 100,000 no-op App\Jobs\SomeJob, COPYed
#                      into `default` once the worker is up) and the trickle on the same queue
#                      `default`, one EchoJob every --interval-ms: each waits behind the backlog
#                      ahead of it, the honest figure for one FIFO queue. The trickle runs only
#                      while the backlog's ready list is non-empty (at most --n jobs for PHP).
#                      PHP gets --php-sleep + 1 s between the backlog's arrival and the first
#                      push: a polling worker idles up to --sleep s before it sees the backlog,
#                      and that wait is what `idle` measures, not this scenario. (larq blocks on
#                      the notify list and starts at once, so it gets no such pause: its 100,000
#                      would be half gone.)
#   backlog-priority   the backlog on `default`, the trickle on `high`, workers on
#                      `--queue high,default`: what a deployment with priorities sees.
#   shared             larq and 2 PHP workers on `default`, a steady stream of --stream-n EchoJobs
#                      (default 3,000, 2 every 2 ms: 1,000 jobs/s), no backlog; each job's latency
#                      is counted for the worker that ran it. larq blocks on the notify list
#                      and PHP polls, so on a queue larq keeps empty PHP may get no job at all.
#   shared-backlog     larq and 2 PHP workers on `--queue high,default`, the backlog on
#                      `default` (so every worker is busy and none sleeps), the trickle on `high`
#                      while the backlog lasts; PHP's first poll comes up to --php-sleep s after
#                      it starts, and larq alone drains much of the backlog meanwhile.
# backlog-fifo for PHP waits for PHP to drain the whole backlog (100,000 at ~1,500 jobs/s: over a
# minute); --skip-php-fifo leaves it out.
# Behind a backlog on another queue, larq at --concurrency C comes back to `high` when a slot is
# free, i.e. about C / throughput after the job arrived: p50 0.30 ms at -c 1, 0.53 at -c 8, 1.4 at
# -c 64 in one run here (2026-12-06); PHP, one job at a time, asks `high` first before every job.
# The report at the end is a table: scenario, worker, jobs handled/pushed, p50, p99, max (ms).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
BACKLOG=100000
LAT_N=200
INTERVAL=10
CONC=64
PHP_SLEEP=3
STREAM_N=3000
SKIP_PHP_FIFO=0
usage="usage: $0 [--backlog N] [--n N] [--interval-ms MS] [-c CONCURRENCY] [--php-sleep S] [--stream-n N] [--skip-php-fifo]"
while [ $# -gt 0 ]; do
    case "$1" in
        --backlog) BACKLOG=$2; shift 2 ;;
        --n) LAT_N=$2; shift 2 ;;
        --interval-ms) INTERVAL=$2; shift 2 ;;
        -c) CONC=$2; shift 2 ;;
        --php-sleep) PHP_SLEEP=$2; shift 2 ;;
        --stream-n) STREAM_N=$2; shift 2 ;;
        --skip-php-fifo) SKIP_PHP_FIFO=1; shift ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
done
for tool in redis-server redis-cli php timeout awk; do
    command -v "$tool" >/dev/null || { echo "latency_load: $tool is missing" >&2; exit 1; }
done

target=${CARGO_TARGET_DIR:-$root/target}
echo "building (release)..." >&2
(cd "$root" && cargo build --release -q --example latency --example latency_worker)
harness=$target/release/examples/latency
worker=$target/release/examples/latency_worker
app=$root/php-fixtures/app

# shellcheck source=../php-fixtures/bin/private-redis.sh
source "$root/php-fixtures/bin/private-redis.sh"
export DB_DATABASE=$LARQ_TMP/app.sqlite DB_CONNECTION=sqlite QUEUE_CONNECTION=redis
# The fixture app runs Debian's Laravel 8 and caches in Redis; larq could not detect either.
export LARQ_LARAVEL_VERSION=8 CACHE_DRIVER=redis
rcli() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }
P=laravel_database_queues:
clear_queues() {
    local q
    for q in default high; do rcli DEL "$P$q" "$P$q:notify" "$P$q:reserved" "$P$q:delayed" >/dev/null; done
}

echo "redis-server $(redis-server --version | awk '{print $3}') on port $REDIS_PORT; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "dispatching the backlog ($BACKLOG SomeJobs, PHP)..." >&2
timeout 900 "$root/php-fixtures/bin/dispatch" SomeJob "$BACKLOG" --user-id=1 --increment --param=backlog >/dev/null
rcli RENAME "${P}default" bench:payloads >/dev/null
rcli RENAME "${P}default:notify" bench:notify >/dev/null
[ "$(rcli LLEN bench:payloads)" -eq "$BACKLOG" ] || { echo "dispatch queued $(rcli LLEN bench:payloads), not $BACKLOG" >&2; exit 1; }

larq_cmd() { echo "$worker work redis --env $app/.env --queue $1 --block-for 1 --sleep 0 --concurrency $CONC"; }
php_cmd() { echo "php $app/artisan queue:work redis --queue=$1 --sleep=$PHP_SLEEP"; }
backlog=(--backlog-from bench:payloads --backlog-notify bench:notify --backlog-queue default --while-backlog)
OUT=$LARQ_TMP/results
: >"$OUT"
FAILED=0
scenario() { # label, harness args...
    local label=$1; shift
    clear_queues
    echo "--- $label (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    if ! timeout 900 "$harness" load --port "$REDIS_PORT" --label "$label" "$@" | tee -a "$OUT"; then
        echo "FAILED: $label" | tee -a "$OUT" >&2
        FAILED=1
    fi
}

scenario idle --n "$LAT_N" --interval-ms "$INTERVAL" --push-queue default --larq-cmd "$(larq_cmd default)"
scenario idle --n "$LAT_N" --interval-ms "$INTERVAL" --push-queue default --warmup-ms 2000 \
    --php-cmd "$(php_cmd default)" --php-procs 1 --wait-s $((PHP_SLEEP + 30))
scenario backlog-fifo --n "$BACKLOG" --interval-ms "$INTERVAL" --push-queue default "${backlog[@]}" \
    --larq-cmd "$(larq_cmd default)" --wait-s 120
scenario backlog-priority --n "$BACKLOG" --interval-ms "$INTERVAL" --push-queue high "${backlog[@]}" \
    --larq-cmd "$(larq_cmd high,default)" --wait-s 60
scenario backlog-priority --n "$LAT_N" --interval-ms "$INTERVAL" --push-queue high "${backlog[@]}" --warmup-ms 2000 --settle-ms $(((PHP_SLEEP + 1) * 1000)) \
    --php-cmd "$(php_cmd high,default)" --php-procs 1 --wait-s $((PHP_SLEEP + 30))
if [ "$SKIP_PHP_FIFO" -eq 0 ]; then
    scenario backlog-fifo --n "$LAT_N" --interval-ms "$INTERVAL" --push-queue default "${backlog[@]}" --warmup-ms 2000 --settle-ms $(((PHP_SLEEP + 1) * 1000)) \
        --php-cmd "$(php_cmd default)" --php-procs 1 --wait-s 600
fi
scenario shared --n "$STREAM_N" --interval-ms 2 --per-tick 2 --push-queue default --warmup-ms 2000 \
    --larq-cmd "$(larq_cmd default)" --php-cmd "$(php_cmd default)" --php-procs 2 --wait-s $((PHP_SLEEP + 30))
scenario shared-backlog --n "$BACKLOG" --interval-ms "$INTERVAL" --push-queue high "${backlog[@]}" --warmup-ms 2000 \
    --larq-cmd "$(larq_cmd high,default)" --php-cmd "$(php_cmd high,default)" --php-procs 2 --wait-s $((PHP_SLEEP + 60))
clear_queues

echo "=== dispatch-to-handle latency, ms (larq --block-for 1 --sleep 0 --concurrency $CONC; PHP --sleep=$PHP_SLEEP; backlog $BACKLOG) ==="
awk '/ who=/ {
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%-18s %-5s %12s %10s %10s %10s\n", v["scenario"], v["who"], v["n"], v["p50_ms"], v["p99_ms"], v["max_ms"]
     }
     /^FAILED/ { print }' "$OUT" | { printf '%-18s %-5s %12s %10s %10s %10s\n' scenario who handled p50 p99 max; cat; }
exit "$FAILED"
