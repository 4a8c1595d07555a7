#!/usr/bin/env bash
# End-to-end throughput, memory and latency of larq beside PHP's `queue:work`, on one private Redis.
#
#   bench/e2e.sh [-n JOBS] [-c "1 4 16 32 64"] [-r REPEATS] [--latency-n N] [--php-sleep S] [--skip-latency]
#   LARQ_BIN=/path/to/other/backend bench/e2e.sh ...   (time another build's worker; same PHP run)
#
# 1. The fixture Laravel app dispatches JOBS (default 20,000) no-op App\Jobs\SomeJob payloads
#    (php-fixtures/bin/dispatch); the list is COPYed aside so every run drains the same payloads.
# 2. Times `php artisan queue:work redis --stop-when-empty --sleep=0` draining them (boot included).
# 3. Restores the list and times `backend work --stop-when-empty --sleep=0` (examples/backend.rs:
#    larq's command line with the SomeJob handler) at each
#    concurrency (release build), REPEATS times each (default 3), reporting the median run.
#    Output of both workers goes to /dev/null.
# 4. Peak RSS of every run (/usr/bin/time -v), idle RSS of larq (VmRSS after 2 s on an empty queue).
# 5. Dispatch-to-handle latency of a trickle (examples/latency.rs): larq blocking on the notify list,
#    PHP polling with --sleep (default 3, queue:work's default).
# 6. The Redis ceiling for the same reserve + delete (examples/redis_ceiling.rs).
# Bounded: every step has a timeout; a run that does not drain the queue is reported as an error.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
N=20000
CONCS="1 4 16 32 64"
REPS=3
LAT_N=200
PHP_SLEEP=3
SKIP_LATENCY=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) N=$2; shift 2 ;;
        -c) CONCS=$2; shift 2 ;;
        -r) REPS=$2; shift 2 ;;
        --latency-n) LAT_N=$2; shift 2 ;;
        --php-sleep) PHP_SLEEP=$2; shift 2 ;;
        --skip-latency) SKIP_LATENCY=1; shift ;;
        *) echo "usage: $0 [-n JOBS] [-c \"1 4 16 32 64\"] [-r REPEATS] [--latency-n N] [--php-sleep S] [--skip-latency]" >&2; exit 2 ;;
    esac
done

target=${CARGO_TARGET_DIR:-$root/target}
echo "building (release)..." >&2
(cd "$root" && cargo build --release -q --example backend --example latency --example redis_ceiling)
# LARQ_BIN=/path/to/backend times another build of examples/backend.rs (before/after figures)
# against the same PHP run and the same payloads.
larq=${LARQ_BIN:-$target/release/examples/backend}

# shellcheck source=../php-fixtures/bin/private-redis.sh
source "$root/php-fixtures/bin/private-redis.sh"
app=$root/php-fixtures/app
export DB_DATABASE=$LARQ_TMP/app.sqlite DB_CONNECTION=sqlite QUEUE_CONNECTION=redis
# The fixture app runs Debian's Laravel 8 and caches in Redis (its config/cache.php default), and
# neither shows in an app directory larq could detect.
export LARQ_LARAVEL_VERSION=8 CACHE_DRIVER=redis
rcli() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }
Q=laravel_database_queues:default

# redis-server's CPU (user + sys clock ticks) from /proc: read by `restore` just before a run's
# clock starts and by `left` just after it stops, so each run's share of the server's work is
# known (appended to $BENCH_TMP/redis.cpu in run order).
ticks=$(getconf CLK_TCK)
redis_ticks() { awk '{print $14 + $15}' "/proc/$REDIS_PID/stat"; }
left() {
    echo "$(( $(redis_ticks) - $(cat "$BENCH_TMP/redis.start") ))" >>"$BENCH_TMP/redis.cpu"
    echo $(( $(rcli LLEN "$Q") + $(rcli ZCARD "$Q:reserved") + $(rcli ZCARD "$Q:delayed") ))
}
restore() {
    rcli DEL "$Q" "$Q:notify" "$Q:reserved" "$Q:delayed" >/dev/null
    rcli COPY bench:payloads "$Q" >/dev/null
    rcli COPY bench:notify "$Q:notify" >/dev/null
    redis_ticks >"$BENCH_TMP/redis.start"
}
BENCH_TMP=$LARQ_TMP
# shellcheck source=lib.sh
source "$root/bench/lib.sh"

echo "redis-server $(redis-server --version | awk '{print $3}') on port $REDIS_PORT; $(nproc) cores; N=$N" >&2
t0=$(now)
timeout 600 "$root/php-fixtures/bin/dispatch" SomeJob "$N" --user-id=1 --increment --param=bench >/dev/null
t1=$(now)
rcli COPY "$Q" bench:payloads >/dev/null
rcli COPY "$Q:notify" bench:notify >/dev/null
[ "$(rcli LLEN bench:payloads)" -eq "$N" ] || { echo "dispatch queued $(rcli LLEN bench:payloads), not $N" >&2; exit 1; }
printf 'dispatch (PHP, %d jobs): %.2f s\n' "$N" "$(echo "$t1 - $t0" | bc -l)"

echo "--- throughput (drain $N SomeJobs) ---"
: >"$BENCH_TMP/redis.cpu"
runs=(php)
for c in $CONCS; do
    if [ "$REPS" -le 1 ]; then runs+=("larq-c$c"); else for r in $(seq "$REPS"); do runs+=("larq-c$c#$r"); done; fi
done
bench_run php php "$app/artisan" queue:work redis --stop-when-empty --sleep=0
bench_larq_sweep "$CONCS" "$larq" work redis --env "$app/.env" --stop-when-empty --sleep=0
bench_ratios

# The Redis-bound limit of each run: redis-server is one thread, so it cannot do more than one
# CPU-second of work per second; at the CPU per job it spent in that very run, the ceiling is
# 1 s / (redis CPU per job), and the run's share of it is the server's busy fraction. A worker at
# 100% is Redis-bound; below, it is bound by itself (or by the round trips it waits on).
echo "--- CPU per job and the Redis-bound limit of each run ---"
mapfile -t redis_cpu < "$BENCH_TMP/redis.cpu"
cpu_s() { awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.3f", u + s}' "$1"; }
declare -A SHARE
for i in "${!runs[@]}"; do
    name=${runs[$i]}
    rs=$(echo "${redis_cpu[$i]} / $ticks" | bc -l)
    ws=$(cpu_s "$BENCH_TMP/time.$name")
    r_us=$(echo "1000000 * $rs / $N" | bc -l)
    w_us=$(echo "1000000 * $ws / $N" | bc -l)
    if (( $(echo "$rs > 0" | bc -l) )); then
        limit=$(echo "$N / $rs" | bc -l)
        SHARE[$name]=$(echo "100 * ${RATE[$name]} / $limit" | bc -l)
        printf '%-16s %8.0f jobs/s  worker %6.1f us/job  redis-server %5.2f us/job  limit %7.0f jobs/s  share %3.0f%%\n' \
            "$name" "${RATE[$name]}" "$w_us" "$r_us" "$limit" "${SHARE[$name]}"
    else
        printf '%-16s %8.0f jobs/s  worker %6.1f us/job  redis-server below one clock tick\n' "$name" "${RATE[$name]}" "$w_us"
    fi
done
# The headline: the best concurrency's median run against its own limit, and against PHP.
best_shares=$(for name in "${!SHARE[@]}"; do case $name in "$BEST"|"$BEST#"*) echo "${SHARE[$name]}" ;; esac; done | sort -g)
if [ -n "$best_shares" ]; then
    share=$(awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' <<<"$best_shares")
    met=no; (( $(echo "$share >= 80" | bc -l) )) && met=yes
    printf 'RESULT best larq (%s): %.0f jobs/s = %.0f%% of the Redis-bound limit (target 80%%: %s) = %.1fx php (%.0f jobs/s)\n' \
        "$BEST" "${RATE[$BEST]}" "$share" "$met" "$(echo "${RATE[$BEST]} / ${RATE[php]}" | bc -l)" "${RATE[php]}"
fi

echo "--- idle RSS ---"
rcli DEL "$Q" "$Q:notify" >/dev/null
"$larq" work redis --env "$app/.env" --sleep=3 >/dev/null 2>&1 &
idle_pid=$!
sleep 2
idle_kb=$(awk '/VmRSS/ {print $2}' "/proc/$idle_pid/status")
kill -TERM "$idle_pid"; wait "$idle_pid" || true
printf 'larq work, empty queue, after 2 s: VmRSS %.1f MB\n' "$(echo "$idle_kb / 1024" | bc -l)"

if [ "$SKIP_LATENCY" -eq 0 ]; then
    echo "--- dispatch-to-handle latency ($LAT_N jobs, one every 10 ms) ---"
    rcli DEL "$Q" "$Q:notify" >/dev/null
    timeout 60 "$target/release/examples/latency" larq --port "$REDIS_PORT" --n "$LAT_N" --interval-ms 10 --block-for 1
    rcli DEL "$Q" "$Q:notify" >/dev/null
    timeout 60 "$target/release/examples/latency" php --port "$REDIS_PORT" --n "$LAT_N" --interval-ms 10 \
        --app "$app" --sleep "$PHP_SLEEP"
fi

echo "--- Redis ceiling (reserve + delete only, 32 concurrent requests, same payloads) ---"
ceiling=$(timeout 300 "$target/release/examples/redis_ceiling" --port "$REDIS_PORT" --source bench:payloads)
echo "$ceiling"
pop=$(awk -F'jobs_per_s=' '/op=laravel-pop/ {print $2}' <<<"$ceiling")
if [ -n "$pop" ]; then
    printf 'best larq (%s, %.0f jobs/s) / laravel-pop ceiling (%s jobs/s): %.0f%%\n' "$BEST" "${RATE[$BEST]}" "$pop" \
        "$(echo "100 * ${RATE[$BEST]} / $pop" | bc -l)"
fi
