#!/usr/bin/env bash
# Scale-out: jobs/s as the number of larq processes on one Redis grows (machines simulated by
# processes on this host), on a single redis-server and on a 3-primary Redis Cluster, beside
# PHP's `queue:work` with the same process counts on the single server.
#
#   bench/scale_out.sh [-n JOBS] [-p "1 2 4 8"] [-c CONCURRENCY] [--php-procs "1 4"] [--skip-cluster] [--skip-php]
#
# Defaults: 40,000 jobs per run, 1 2 4 8 larq processes of `--concurrency 64` each, PHP with 1 and
# 4 processes. Needs redis-server, redis-cli (7.0: COPY, --cluster create), php with the fixture
# app's packages, GNU time (/usr/bin/time), timeout, bc; fails at once if one is missing.
#
# What it does:
# 1. Single server: a private redis-server (free port, no persistence). The fixture Laravel app
#    dispatches JOBS no-op App\Jobs\SomeJob (php-fixtures/bin/dispatch) to queue `default`; the
#    list and its notify tokens are COPYed aside and restored before every run, so every run
#    drains the same payloads PHP wrote. For P in the process counts: P processes of
#    `backend work redis --stop-when-empty --sleep=0 --concurrency C` (examples/backend.rs, the
#    README's deployment binary, release build) start together and drain the queue; then P
#    processes of `php artisan queue:work redis --stop-when-empty --sleep=0`.
# 2. Cluster: three private `--cluster-enabled yes` redis-servers joined with
#    `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`. On a cluster every
#    queue name needs a hash tag (Laravel's convention, `{default}`), and one queue lives on one
#    primary, so the load is spread over the three primaries with three queues whose tags hash to
#    different primaries (picked here, `{qK}`), JOBS/3 each, dispatched by the same app through
#    phpredis's RedisCluster (LARQ_REDIS_CLUSTER names the seeds for the fixture app and for
#    larq alike). Worker i is given all three queues, rotated to start at queue i mod 3
#    (`--queue {q2},{q3},{q1}`): a deployment that wants its workers spread over the queues and
#    none left unworked gives each group its own first queue. (One list in the same order for all
#    would send every worker to the same primary until that queue is empty, as Laravel's worker
#    takes the first non-empty queue of its list.)
# 3. Every run must end with every queue empty (ready, reserved, delayed) or the script fails.
#    Every worker runs under `timeout 600`, dispatches under `timeout 600`.
#
# The figures, per run (the report on stdout comes at the end, ratios first; progress on stderr):
#   jobs/s          JOBS / wall time from starting the first process to the last one's exit
#                   (process start and, for PHP, framework boot included).
#   redis µs/job    CPU (utime+stime from /proc/PID/stat before and after the run) of every
#                   redis-server of the setup, summed, per job; `busiest` is the one server
#                   that used the most.
#   ceiling         the Redis-bound ceiling: one core-second / (busiest server's CPU seconds per
#                   job), i.e. the jobs/s at which that server would saturate its one core
#                   (redis-server executes commands on one thread).
#   share           jobs/s / ceiling.
#   workers µs/job  CPU of all worker processes (GNU time, user+sys) per job.
#   host ceiling    cores / (redis + workers CPU per job): what this machine could do if every
#                   core did only this run's work; on a 2-core host it binds before Redis does.
#   load            the 1-minute load average right after the run (the host is shared).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
N=40000
PROCS="1 2 4 8"
CONC=64
PHP_PROCS="1 4"
SKIP_CLUSTER=0
SKIP_PHP=0
usage="usage: $0 [-n JOBS] [-p \"1 2 4 8\"] [-c CONCURRENCY] [--php-procs \"1 4\"] [--skip-cluster] [--skip-php]"
while [ $# -gt 0 ]; do
    case "$1" in
        -n) N=$2; shift 2 ;;
        -p) PROCS=$2; shift 2 ;;
        -c) CONC=$2; shift 2 ;;
        --php-procs) PHP_PROCS=$2; shift 2 ;;
        --skip-cluster) SKIP_CLUSTER=1; shift ;;
        --skip-php) SKIP_PHP=1; shift ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
done
for tool in redis-server redis-cli php bc timeout /usr/bin/time awk getconf; do
    command -v "$tool" >/dev/null || { echo "scale_out: $tool is missing" >&2; exit 1; }
done

target=${CARGO_TARGET_DIR:-$root/target}
echo "building (release)..." >&2
(cd "$root" && cargo build --release -q --example backend)
larq=$target/release/examples/backend
app=$root/php-fixtures/app
TCK=$(getconf CLK_TCK)
CORES=$(nproc)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/larq-scale.XXXXXX")
SERVERS=()
cleanup() {
    local p
    for p in "${SERVERS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${SERVERS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

export DB_DATABASE=$TMP/app.sqlite DB_CONNECTION=sqlite QUEUE_CONNECTION=redis
# The fixture app runs Debian's Laravel 8 and caches in Redis; larq could not detect either.
export LARQ_LARAVEL_VERSION=8 CACHE_DRIVER=redis
PREFIX=laravel_database_queues:

now() { date +%s.%N; }
free_port() { # a free port whose cluster bus port (+10000) is free too
    php -r 'for (;;) { $s = stream_socket_server("tcp://127.0.0.1:0"); $n = stream_socket_get_name($s, false);
        $p = (int) substr($n, strrpos($n, ":") + 1);
        if ($p < 55000 && ($b = @stream_socket_server("tcp://127.0.0.1:" . ($p + 10000)))) { echo $p; break; } }'
}
start_redis() { # port dir extra-args...
    local port=$1 dir=$2; shift 2
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
        --logfile "$dir/redis.log" --daemonize no "$@" &
    SERVERS+=($!)
    local _
    for _ in $(seq 1 100); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "redis-server on port $port did not start: $(tail -3 "$dir/redis.log")" >&2
    exit 1
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
load1() { cut -d' ' -f1 /proc/loadavg; }

declare -A RATE LINE
ORDER=()

# run LABEL P SERVER_PIDS... : restore, start P workers (argv from `worker_args I` into WARGS),
# wait for all, check the queues are empty, and compute the figures.
run() {
    local label=$1 p=$2; shift 2
    local servers=("$@") before=() pids=() i s fail=0
    restore
    for s in "${servers[@]}"; do before+=("$(ticks "$s")"); done
    local t0 t1
    t0=$(now)
    for i in $(seq 0 $((p - 1))); do
        worker_args "$i"
        timeout 600 /usr/bin/time -f '%U %S' -o "$TMP/cpu.$label.$i" "${WARGS[@]}" \
            >/dev/null 2>"$TMP/err.$label.$i" &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || { fail=1; echo "$label: worker $i failed:" >&2; tail -5 "$TMP/err.$label.$i" >&2; }
    done
    t1=$(now)
    [ "$fail" -eq 0 ] || exit 1
    local remaining
    remaining=$(left)
    if [ "$remaining" -ne 0 ]; then
        echo "$label: $remaining of $N jobs are still queued after the run" >&2
        exit 1
    fi
    local redis_total=0 busiest=0 d
    for i in "${!servers[@]}"; do
        d=$(( $(ticks "${servers[$i]}") - ${before[$i]} ))
        redis_total=$((redis_total + d))
        if [ "$d" -gt "$busiest" ]; then busiest=$d; fi
    done
    local workers
    workers=$(for i in $(seq 0 $((p - 1))); do tail -1 "$TMP/cpu.$label.$i"; done | awk '{s += $1 + $2} END {printf "%.2f", s}')
    local wall rate redis_us busiest_us ceiling share workers_us host
    wall=$(echo "$t1 - $t0" | bc -l)
    rate=$(echo "$N / $wall" | bc -l)
    redis_us=$(echo "1000000 * $redis_total / $TCK / $N" | bc -l)
    busiest_us=$(echo "1000000 * $busiest / $TCK / $N" | bc -l)
    if [ "$busiest" -gt 0 ]; then
        ceiling=$(echo "1000000 / $busiest_us" | bc -l)
        share=$(echo "100 * $rate / $ceiling" | bc -l)
    else
        ceiling=0 share=0
    fi
    workers_us=$(echo "1000000 * $workers / $N" | bc -l)
    host=$(echo "$CORES * 1000000 / ($redis_us + $workers_us)" | bc -l)
    RATE[$label]=$rate
    LINE[$label]=$(printf '%-16s %2d procs %8.0f jobs/s %6.2f s | redis %5.1f µs/job (busiest %5.1f) ceiling %7.0f share %3.0f%% | workers %6.1f µs/job | host ceiling %7.0f | load %s' \
        "$label" "$p" "$rate" "$wall" "$redis_us" "$busiest_us" "$ceiling" "$share" "$workers_us" "$host" "$(load1)")
    ORDER+=("$label")
    echo "${LINE[$label]}" >&2
}

# ---------------------------------------------------------------- single redis-server
SPORT=$(free_port)
start_redis "$SPORT" "$TMP/single"
SPID=${SERVERS[-1]}
export REDIS_HOST=127.0.0.1 REDIS_PORT=$SPORT
rcli() { redis-cli -p "$SPORT" "$@"; }
Q=${PREFIX}default
echo "redis-server $(redis-server --version | awk '{print $3}') on port $SPORT; $CORES cores; N=$N; load $(load1)" >&2
timeout 600 "$root/php-fixtures/bin/dispatch" SomeJob "$N" --user-id=1 --increment --param=bench >/dev/null
rcli COPY "$Q" bench:payloads >/dev/null
rcli COPY "$Q:notify" bench:notify >/dev/null
[ "$(rcli LLEN bench:payloads)" -eq "$N" ] || { echo "dispatch queued $(rcli LLEN bench:payloads), not $N" >&2; exit 1; }

restore() {
    rcli DEL "$Q" "$Q:notify" "$Q:reserved" "$Q:delayed" >/dev/null
    rcli COPY bench:payloads "$Q" >/dev/null
    rcli COPY bench:notify "$Q:notify" >/dev/null
}
left() { echo $(( $(rcli LLEN "$Q") + $(rcli ZCARD "$Q:reserved") + $(rcli ZCARD "$Q:delayed") )); }

worker_args() { WARGS=("$larq" work redis --env "$app/.env" --stop-when-empty --sleep=0 --concurrency "$CONC"); }
for p in $PROCS; do run "larq-single-p$p" "$p" "$SPID"; done
if [ "$SKIP_PHP" -eq 0 ]; then
    worker_args() { WARGS=(php "$app/artisan" queue:work redis --stop-when-empty --sleep=0); }
    for p in $PHP_PROCS; do run "php-single-p$p" "$p" "$SPID"; done
fi
kill "$SPID"; wait "$SPID" 2>/dev/null || true
unset REDIS_HOST REDIS_PORT

# ---------------------------------------------------------------- 3-primary cluster
if [ "$SKIP_CLUSTER" -eq 0 ]; then
    CPORTS=() CPIDS=()
    for i in 0 1 2; do
        port=$(free_port)
        start_redis "$port" "$TMP/node$i" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000
        CPORTS+=("$port") CPIDS+=("${SERVERS[-1]}")
    done
    timeout 60 redis-cli --cluster create "127.0.0.1:${CPORTS[0]}" "127.0.0.1:${CPORTS[1]}" "127.0.0.1:${CPORTS[2]}" \
        --cluster-replicas 0 --cluster-yes >"$TMP/cluster-create.log" 2>&1 ||
        { cat "$TMP/cluster-create.log" >&2; exit 1; }
    for _ in $(seq 1 300); do
        ok=0
        for port in "${CPORTS[@]}"; do
            redis-cli -p "$port" CLUSTER INFO | grep -q 'cluster_state:ok' && ok=$((ok + 1))
        done
        if [ "$ok" -eq 3 ]; then break; fi
        sleep 0.1
    done
    [ "$ok" -eq 3 ] || { echo "the cluster did not reach cluster_state:ok" >&2; exit 1; }
    SEEDS="127.0.0.1:${CPORTS[0]},127.0.0.1:${CPORTS[1]},127.0.0.1:${CPORTS[2]}"
    ccli() { redis-cli -c -p "${CPORTS[0]}" "$@"; }
    # port owning SLOT, from CLUSTER NODES ("... master - 0 0 1 connected 0-5460").
    port_of_slot() {
        ccli CLUSTER NODES | awk -v slot="$1" '{
            split($2, a, "[:@]");
            for (i = 9; i <= NF; i++) { n = split($i, r, "-"); lo = r[1]; hi = (n > 1) ? r[2] : r[1];
                if (slot >= lo && slot <= hi) print a[2] } }'
    }
    # One tag per primary: the first {qK} whose slot is on a primary not yet taken.
    TAGS=() taken=" "
    for k in $(seq 1 100); do
        port=$(port_of_slot "$(ccli CLUSTER KEYSLOT "{q$k}")")
        case "$taken" in *" $port "*) continue ;; esac
        taken="$taken$port " TAGS+=("{q$k}")
        if [ "${#TAGS[@]}" -eq 3 ]; then break; fi
    done
    [ "${#TAGS[@]}" -eq 3 ] || { echo "no three hash tags on three primaries" >&2; exit 1; }
    echo "cluster on ports ${CPORTS[*]}; queues ${TAGS[*]} (one per primary); load $(load1)" >&2

    per=$((N / 3))
    for i in 0 1 2; do
        count=$per
        if [ "$i" -eq 0 ]; then count=$((N - 2 * per)); fi
        LARQ_REDIS_CLUSTER=$SEEDS timeout 600 "$root/php-fixtures/bin/dispatch" SomeJob "$count" \
            --user-id=$((1 + i * per)) --increment --param=bench --queue="${TAGS[$i]}" >/dev/null
        key=$PREFIX${TAGS[$i]}
        # Same tag, same slot: COPY works on the cluster.
        ccli COPY "$key" "bench:${TAGS[$i]}:payloads" >/dev/null
        ccli COPY "$key:notify" "bench:${TAGS[$i]}:notify" >/dev/null
        [ "$(ccli LLEN "bench:${TAGS[$i]}:payloads")" -eq "$count" ] ||
            { echo "dispatch to ${TAGS[$i]} queued $(ccli LLEN "bench:${TAGS[$i]}:payloads"), not $count" >&2; exit 1; }
    done
    restore() {
        local t key
        for t in "${TAGS[@]}"; do
            key=$PREFIX$t
            ccli DEL "$key" >/dev/null; ccli DEL "$key:notify" >/dev/null
            ccli DEL "$key:reserved" >/dev/null; ccli DEL "$key:delayed" >/dev/null
            ccli COPY "bench:$t:payloads" "$key" >/dev/null
            ccli COPY "bench:$t:notify" "$key:notify" >/dev/null
        done
    }
    left() {
        local t key sum=0
        for t in "${TAGS[@]}"; do
            key=$PREFIX$t
            sum=$((sum + $(ccli LLEN "$key") + $(ccli ZCARD "$key:reserved") + $(ccli ZCARD "$key:delayed")))
        done
        echo "$sum"
    }
    worker_args() {
        local i=$1 queues
        queues="${TAGS[$((i % 3))]},${TAGS[$(((i + 1) % 3))]},${TAGS[$(((i + 2) % 3))]}"
        WARGS=(env "LARQ_REDIS_CLUSTER=$SEEDS" "$larq" work redis --env "$app/.env" --queue "$queues"
            --stop-when-empty --sleep=0 --concurrency "$CONC")
    }
    for p in $PROCS; do run "larq-cluster-p$p" "$p" "${CPIDS[@]}"; done
fi

# ---------------------------------------------------------------- report
best() { # prefix: the label with the highest rate
    local l b=""
    for l in "${ORDER[@]}"; do
        case "$l" in "$1"*) ;; *) continue ;; esac
        if [ -z "$b" ] || (( $(echo "${RATE[$l]} > ${RATE[$b]}" | bc -l) )); then b=$l; fi
    done
    echo "$b"
}
declare -A SHOWN
ratio() { # a b: once per pair, when both ran
    if [ "$1" != "$2" ] && [ -z "${SHOWN[$1/$2]:-}" ] && [ -n "${RATE[$1]:-}" ] && [ -n "${RATE[$2]:-}" ]; then
        SHOWN[$1/$2]=1
        printf '  %-40s %6.1fx\n' "$1 / $2" "$(echo "${RATE[$1]} / ${RATE[$2]}" | bc -l)"
    fi
}
echo "=== ratios (N=$N, larq --concurrency $CONC, $CORES cores) ==="
for p in $PHP_PROCS; do ratio "larq-single-p$p" "php-single-p$p"; done
bl=$(best larq-single-) bp=$(best php-single-) bc_=$(best larq-cluster-)
if [ -n "$bp" ]; then ratio "$bl" "$bp"; fi
for p in $PROCS; do ratio "larq-single-p$p" larq-single-p1; done
if [ -n "$bc_" ]; then
    ratio "$bc_" "$bl"
    for p in $PROCS; do ratio "larq-cluster-p$p" larq-cluster-p1; done
fi
echo "=== runs ==="
for l in "${ORDER[@]}"; do echo "${LINE[$l]}"; done
