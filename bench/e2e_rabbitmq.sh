#!/usr/bin/env bash
# Throughput and memory of larq beside PHP's `queue:work rabbitmq`, on one RabbitMQ broker, in a
# vhost of its own, in one run; and the dispatch rate of each side.
#
#   bench/e2e_rabbitmq.sh [-n JOBS] [-c "1 4 16 64"] [-r REPEATS] [-p "1 16 64"] [--skip-publish]
#
# On the broker at RABBITMQ_HOST:RABBITMQ_PORT (default 127.0.0.1:5672, guest/guest), in a vhost
# made for the run (larq_bench_<pid>, `rabbitmqctl add_vhost` + `set_permissions`, deleted on
# exit by the trap):
# 1. Before every worker run the fixture Laravel app (Debian's Laravel 8) dispatches JOBS (default
#    20,000) no-op App\Jobs\SomeJob payloads to queue `default` of its `rabbitmq` connection
#    (php-fixtures/bin/dispatch SomeJob JOBS --connection=rabbitmq --vhost=V, one process,
#    php-amqplib's basic_publish without publisher confirms, as the package publishes). The ready
#    count must then be JOBS. RabbitMQ cannot copy a queue, so every run gets a fresh dispatch
#    of the same shape (new uuids); the dispatch is not part of the timed run, and its times
#    give PHP's dispatch rate.
# 2. Times `php artisan queue:work rabbitmq --stop-when-empty --sleep=0` draining them
#    (framework boot included; one basic_get round trip per job).
# 3. Times `backend work rabbitmq --stop-when-empty --sleep=0 --concurrency C`
#    (examples/backend.rs, release build; basic_consume with prefetch C) for each C, REPEATS
#    times each (default 3), reporting the median. Output of both workers goes to /dev/null.
#    After every run the queue (ready + unacknowledged) must be empty, or the script fails.
# 4. Peak RSS (/usr/bin/time -v) and CPU seconds (user + sys) of every worker run, and the
#    broker's CPU seconds during it (beam.smp's utime + stime from /proc); larq's idle RSS on an
#    empty queue.
# 5. Each worker on the empty queue (median of 3): PHP's boot + one basic_get, larq's start +
#    connect + the wait of --stop-when-empty for a delivery (at least 1 s). The "net" rates
#    subtract it from the runs above: the rate of the drain itself.
# 6. larq's dispatch rate: examples/rabbitmq_publish.rs publishes JOBS SomeJobs through
#    larq::dispatch::Dispatcher on the rabbitmq connection, each confirmed by the broker, with
#    K dispatches in flight (each K of -p, default "1 16 64"; REPEATS runs, median), then purges
#    the queue. PHP's dispatch rate is from the dispatches of step 1 (median).
# 7. The broker's connections are listed before and after every run; clients of other vhosts
#    (which cost broker CPU too) are reported at the end.
# Both workers: QUEUE_CONNECTION=rabbitmq, RABBITMQ_VHOST=V, failed_jobs in a temp SQLite file,
# the cache (restart signal) on a private redis-server as bench/e2e.sh has it.
# Bounded: every step has a timeout; a run that does not drain the queue is an error.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
N=20000
CONCS="1 4 16 64"
REPS=3
INFLIGHT="1 16 64"
SKIP_PUBLISH=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) N=$2; shift 2 ;;
        -c) CONCS=$2; shift 2 ;;
        -r) REPS=$2; shift 2 ;;
        -p) INFLIGHT=$2; shift 2 ;;
        --skip-publish) SKIP_PUBLISH=1; shift ;;
        *) echo "usage: $0 [-n JOBS] [-c \"1 4 16 64\"] [-r REPEATS] [-p \"1 16 64\"] [--skip-publish]" >&2; exit 2 ;;
    esac
done

target=${CARGO_TARGET_DIR:-$root/target}
echo "building (release)..." >&2
(cd "$root" && timeout 1800 cargo build --release -q --example backend --example rabbitmq_publish)
larq=$target/release/examples/backend
publish=$target/release/examples/rabbitmq_publish
app=$root/php-fixtures/app

export RABBITMQ_HOST=${RABBITMQ_HOST:-127.0.0.1} RABBITMQ_PORT=${RABBITMQ_PORT:-5672}
export RABBITMQ_USER=${RABBITMQ_USER:-guest} RABBITMQ_PASSWORD=${RABBITMQ_PASSWORD:-guest}
export RABBITMQ_QUEUE=default
VHOST=larq_bench_$$
export RABBITMQ_VHOST=$VHOST
Q=$RABBITMQ_QUEUE
mq() { timeout 60 rabbitmqctl "$@"; }

# The cache store (queue:restart) on a private redis-server, as in bench/e2e.sh; its trap is
# replaced by one that also deletes the vhost.
# shellcheck source=../php-fixtures/bin/private-redis.sh
source "$root/php-fixtures/bin/private-redis.sh"
made_vhost=0
cleanup() {
    if [ "$made_vhost" -eq 1 ]; then
        timeout 60 rabbitmqctl delete_vhost "$VHOST" >/dev/null 2>&1 || echo "could not delete vhost $VHOST" >&2
    fi
    larq_cleanup
}
trap cleanup EXIT
mq add_vhost "$VHOST" >/dev/null
made_vhost=1
mq set_permissions -p "$VHOST" "$RABBITMQ_USER" '.*' '.*' '.*' >/dev/null

export DB_DATABASE=$LARQ_TMP/app.sqlite DB_CONNECTION=sqlite QUEUE_CONNECTION=rabbitmq
# The fixture app runs Debian's Laravel 8 and caches in Redis (its config/cache.php default), and
# neither shows in an app directory larq could detect.
export LARQ_LARAVEL_VERSION=8 CACHE_DRIVER=redis

# The broker node's OS process, for its CPU time (utime + stime, in clock ticks).
broker_pid=$(mq eval 'os:getpid().' | tr -dc '0-9')
[ -r "/proc/$broker_pid/stat" ] || { echo "cannot read the broker's /proc/$broker_pid/stat" >&2; exit 1; }
ticks=$(getconf CLK_TCK)
broker_ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$broker_pid/stat"; }

BENCH_TMP=$LARQ_TMP
# Messages in the queue, ready and unacknowledged (0 when it does not exist).
messages() {
    mq list_queues -p "$VHOST" -q --no-table-headers name messages | awk -v q="$Q" '$1 == q {n = $2} END {print n + 0}'
}
# lib.sh calls `restore` before the clock starts and `left` (in a subshell) after it stops: the
# broker's CPU is read at both ends, and each run's share appended to $BENCH_TMP/broker.cpu.
DISPATCH_SECS=()
restore() {
    local n t0 t1
    n=$(messages)
    [ "$n" -eq 0 ] || { echo "queue $Q holds $n messages before the dispatch" >&2; exit 1; }
    t0=$(now)
    timeout 600 "$root/php-fixtures/bin/dispatch" SomeJob "$N" --connection=rabbitmq --vhost="$VHOST" \
        --user-id=1 --increment --param=bench >/dev/null
    t1=$(now)
    DISPATCH_SECS+=("$(echo "$t1 - $t0" | bc -l)")
    n=$(messages)
    [ "$n" -eq "$N" ] || { echo "dispatch queued $n messages, not $N" >&2; exit 1; }
    others >/dev/null
    broker_ticks >"$BENCH_TMP/broker.start"
}
left() {
    local end; end=$(broker_ticks)
    echo "$(( end - $(cat "$BENCH_TMP/broker.start") ))" >>"$BENCH_TMP/broker.cpu"
    others >/dev/null
    messages
}
explain_left() {
    mq list_queues -p "$VHOST" name messages_ready messages_unacknowledged consumers
    tail -5 "$BENCH_TMP/err.$1"
}
# shellcheck source=lib.sh
source "$root/bench/lib.sh"
: >"$BENCH_TMP/broker.cpu"
cpu_s() { # user + sys seconds of a run, from its time -v file
    awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.2f", u + s}' "$1"
}

echo "RabbitMQ $(mq eval 'rabbit_misc:version().' | tr -d '"') at $RABBITMQ_HOST:$RABBITMQ_PORT, vhost $VHOST; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg); N=$N; $(date -u '+%Y-%m-%d %H:%M UTC')"
# The broker is shared: who else is connected (other vhosts' clients cost broker CPU too) is
# sampled before and after every run and at both ends of the script.
others() { # one sample: the number of other connections, and their vhosts
    local sample
    sample=$(mq list_connections -q --no-table-headers vhost | awk -v v="$VHOST" '$1 != v')
    echo "$sample" | awk 'NF {n++; h[$1]++}
        END {printf "%d", n; if (n) {printf " ("; s = ""; for (k in h) {printf "%s%s: %d", s, k, h[k]; s = ", "}; printf ")"}}'
    echo "$sample" | awk 'NF' >>"$BENCH_TMP/others"
    echo "sample" >>"$BENCH_TMP/others.samples"
}
: >"$BENCH_TMP/others"
: >"$BENCH_TMP/others.samples"
echo "other connections on the broker at the start: $(others)"
echo "--- throughput (drain $N SomeJobs) ---"
runs=(php)
bench_run php php "$app/artisan" queue:work rabbitmq --stop-when-empty --sleep=0
for c in $CONCS; do
    if [ "$REPS" -le 1 ]; then runs+=("larq-c$c"); else for r in $(seq "$REPS"); do runs+=("larq-c$c#$r"); done; fi
done
bench_larq_sweep "$CONCS" "$larq" work rabbitmq --env "$app/.env" --stop-when-empty --sleep=0
bench_ratios

echo "--- CPU seconds per run (worker user + sys; broker beam.smp during the run) ---"
mapfile -t broker < "$BENCH_TMP/broker.cpu"
for i in "${!runs[@]}"; do
    name=${runs[$i]}
    printf '%-22s worker %6.2f s  broker %6.2f s  peak RSS %6.1f MB\n' "$name" "$(cpu_s "$BENCH_TMP/time.$name")" \
        "$(echo "${broker[$i]} / $ticks" | bc -l)" "$(echo "${PEAK[$name]} / 1024" | bc -l)"
done

# What each worker costs on an empty queue (PHP: framework boot and one basic_get; larq: start,
# connect, and the wait of --stop-when-empty for a delivery, at least 1 s): subtracted from the
# runs above, it gives the rate of the drain itself.
empty_secs() { # command...: median wall time of 3 runs on the empty queue
    local r t0 t1 times=()
    for r in 1 2 3; do
        t0=$(now)
        timeout 60 "$@" >/dev/null 2>>"$BENCH_TMP/err.empty" || { echo "empty run failed: $*" >&2; tail -5 "$BENCH_TMP/err.empty" >&2; exit 1; }
        t1=$(now)
        times+=("$(echo "$t1 - $t0" | bc -l)")
    done
    printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[2]}'
}
echo "--- on an empty queue (median of 3), and the drain rate without it ---"
[ "$(messages)" -eq 0 ] || { echo "queue $Q is not empty" >&2; exit 1; }
empty_php=$(empty_secs php "$app/artisan" queue:work rabbitmq --stop-when-empty --sleep=0)
empty_larq=$(empty_secs "$larq" work rabbitmq --env "$app/.env" --stop-when-empty --sleep=0 --concurrency 1)
printf 'php  queue:work on an empty queue: %.2f s;  larq work: %.2f s\n' "$empty_php" "$empty_larq"
net() { # name, empty seconds: N / (run time - empty time)
    echo "$N / ($N / ${RATE[$1]} - $2)" | bc -l
}
printf '%-22s %8.0f jobs/s net\n' php "$(net php "$empty_php")"
for c in $CONCS; do
    printf '%-22s %8.0f jobs/s net  (%.1fx php net)\n' "larq-c$c" "$(net "larq-c$c" "$empty_larq")" \
        "$(echo "$(net "larq-c$c" "$empty_larq") / $(net php "$empty_php")" | bc -l)"
done

failed=$(sqlite3 "$DB_DATABASE" "SELECT COUNT(*) FROM failed_jobs")
[ "$failed" -eq 0 ] || { echo "$failed jobs failed" >&2; exit 1; }

echo "--- idle RSS ---"
"$larq" work rabbitmq --env "$app/.env" --sleep=3 >/dev/null 2>"$BENCH_TMP/err.idle" &
idle_pid=$!
sleep 2
idle_kb=$(awk '/VmRSS/ {print $2}' "/proc/$idle_pid/status")
kill -TERM "$idle_pid"; timeout 30 tail --pid="$idle_pid" -f /dev/null || kill -KILL "$idle_pid"
wait "$idle_pid" || true
printf 'larq work rabbitmq, empty queue, after 2 s: VmRSS %.1f MB\n' "$(echo "$idle_kb / 1024" | bc -l)"

echo "--- dispatch ($N SomeJobs) ---"
d_med=$(printf '%s\n' "${DISPATCH_SECS[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
d_min=$(printf '%s\n' "${DISPATCH_SECS[@]}" | sort -g | head -1)
printf 'php larq:dispatch (one process, boot included, unconfirmed): median %.2f s = %.0f jobs/s (best %.0f jobs/s; %d dispatches)\n' \
    "$d_med" "$(echo "$N / $d_med" | bc -l)" "$(echo "$N / $d_min" | bc -l)" "${#DISPATCH_SECS[@]}"
if [ "$SKIP_PUBLISH" -eq 0 ]; then
    for k in $INFLIGHT; do
        inproc=() whole=()
        for r in $(seq "$REPS"); do
            t0=$(now)
            line=$(timeout 600 "$publish" --n "$N" --inflight "$k" --clear)
            t1=$(now)
            inproc+=("$(awk -F'jobs_per_s=' '{print $2}' <<<"$line")")
            whole+=("$(echo "$N / ($t1 - $t0)" | bc -l)")
        done
        printf 'larq Dispatcher, %2d in flight (confirmed): %6.0f jobs/s in process, %6.0f whole process (median of %d; in process: %s)\n' \
            "$k" "$(printf '%s\n' "${inproc[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
            "$(printf '%s\n' "${whole[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
            "$REPS" "${inproc[*]}"
    done
    n=$(messages)
    [ "$n" -eq 0 ] || { echo "queue $Q holds $n messages after the publish runs" >&2; exit 1; }
fi
echo "other connections on the broker at the end: $(others); load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'samples of the broker'"'"'s connections (before and after each run): %d; with other connections: %s\n' \
    "$(wc -l <"$BENCH_TMP/others.samples")" \
    "$(if [ -s "$BENCH_TMP/others" ]; then sort "$BENCH_TMP/others" | uniq -c | awk '{printf "%s%s x%d", s, $2, $1; s = ", "}'; else echo none; fi)"
