#!/usr/bin/env bash
# Throughput of the `database` queue driver: larq beside PHP's `queue:work database`, on SQLite,
# PostgreSQL and MariaDB, in one run.
#
#   bench/e2e_database.sh [-n JOBS] [-c "1 4 8 16"] [-r REPEATS] [--only "sqlite pgsql mysql"]
#                         [--php-n JOBS]
#
# For each database, in a database (SQLite: a file) of its own that is dropped on exit:
# 1. The fixture Laravel app dispatches JOBS (default 2,000) no-op App\Jobs\SomeJob rows onto its
#    `database` connection (php-fixtures/bin/dispatch, DB_CONNECTION=sqlite|pgsql|mysql); the rows
#    are copied aside (CREATE TABLE bench_jobs_copy AS SELECT * FROM jobs).
# 2. Before every run the jobs table is emptied and refilled from the copy (same ids, attempts 0,
#    not reserved) and analyzed, so every worker drains the same rows from the same start.
# 3. Times `php artisan queue:work database --stop-when-empty --sleep=0` (framework boot included),
#    then `backend work database --stop-when-empty --sleep=0 --concurrency C` (examples/backend.rs)
#    (release build) for each C, REPEATS times each (default 1; the median is reported when more).
#    Output of both workers goes to /dev/null; peak RSS from time -v.
#    --php-n gives PHP's worker only the first JOBS of those rows (it drains ~400 jobs/s, so
#    20,000 rows would take it a minute per database); its rate is then over that many, and the
#    output says so.
# 4. After each run the table must be empty. If it is not, the script says how many rows are left
#    (reserved or not) and how many "database is locked" errors the worker's log holds, and fails.
# 5. Per database, one summary line: larq's best rate, its ratio to PHP's, and whether it reaches
#    the target of issue 17 (BENCH_TARGET, default 10,000 jobs/s with one process).
#
# LARQ_BIN=/path/to/backend runs that binary (a build of examples/backend.rs) instead of building this tree (e.g. to compare two builds).
# Servers: PostgreSQL on 127.0.0.1:5432 as postgres (trust), MariaDB on 127.0.0.1:3306 as root
# with no password (override with BENCH_PG_PORT / BENCH_MY_PORT). Nothing here needs Redis
# (CACHE_DRIVER=array for both workers). PHP needs pdo_pgsql and pdo_mysql (scripts/setup.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
N=2000
CONCS="1 4 8 16"
ONLY="sqlite pgsql mysql"
REPS=1
PHP_N=""
TARGET=${BENCH_TARGET:-10000}
while [ $# -gt 0 ]; do
    case "$1" in
        -n) N=$2; shift 2 ;;
        -c) CONCS=$2; shift 2 ;;
        -r) REPS=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --php-n) PHP_N=$2; shift 2 ;;
        *) echo "usage: $0 [-n JOBS] [-c \"1 4 8 16\"] [-r REPEATS] [--only \"sqlite pgsql mysql\"] [--php-n JOBS]" >&2; exit 2 ;;
    esac
done
PHP_N=${PHP_N:-$N}
if [ "$PHP_N" -gt "$N" ]; then echo "--php-n ($PHP_N) cannot exceed -n ($N)" >&2; exit 2; fi
PG_PORT=${BENCH_PG_PORT:-5432}
MY_PORT=${BENCH_MY_PORT:-3306}

if [ -n "${LARQ_BIN:-}" ]; then
    larq=$LARQ_BIN
else
    target=${CARGO_TARGET_DIR:-$root/target}
    echo "building (release)..." >&2
    (cd "$root" && cargo build --release -q --example backend)
    larq=$target/release/examples/backend
fi
app=$root/php-fixtures/app

BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/larq-dbbench.XXXXXX")
PRIVATE_DB=larq_bench_$$
mysql_cli=$(command -v mariadb || command -v mysql)
created_pg=0
created_my=0
SUMMARY=()
cleanup() {
    if [ "$created_pg" -eq 1 ]; then
        psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d test -qtAX -c "DROP DATABASE IF EXISTS $PRIVATE_DB" >/dev/null 2>&1 || true
    fi
    if [ "$created_my" -eq 1 ]; then
        "$mysql_cli" -h 127.0.0.1 -P "$MY_PORT" -u root -e "DROP DATABASE IF EXISTS $PRIVATE_DB" >/dev/null 2>&1 || true
    fi
    rm -rf "$BENCH_TMP"
}
trap cleanup EXIT

# shellcheck source=lib.sh
source "$root/bench/lib.sh"

# Both workers and the dispatcher read the same settings from the environment.
export QUEUE_CONNECTION=database CACHE_DRIVER=array REDIS_PORT=1 DB_QUEUE_TABLE=jobs
export LARQ_LARAVEL_VERSION=8 # the fixture app's Laravel (Debian's 8), which larq cannot detect
unset DB_URL DATABASE_URL DB_QUEUE_RETRY_AFTER

sql() { # the current backend's client, one statement list, unaligned output
    case "$DB_CONNECTION" in
        sqlite) sqlite3 "$DB_DATABASE" "$1" ;;
        pgsql) psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$DB_DATABASE" -qtAX -v ON_ERROR_STOP=1 -c "$1" ;;
        mysql) "$mysql_cli" -h 127.0.0.1 -P "$MY_PORT" -u root -N -B "$DB_DATABASE" -e "$1" ;;
    esac
}
left() { sql "SELECT COUNT(*) FROM jobs"; }
restore() { # the first N rows of the copy (all of them, except for PHP's run with --php-n)
    local rows="SELECT * FROM bench_jobs_copy ORDER BY id LIMIT $N"
    case "$DB_CONNECTION" in
        sqlite) sql "DELETE FROM jobs; INSERT INTO jobs $rows; ANALYZE jobs;" ;;
        pgsql) sql "TRUNCATE jobs; INSERT INTO jobs $rows;"; sql "VACUUM ANALYZE jobs" ;;
        mysql) sql "TRUNCATE jobs; INSERT INTO jobs $rows; ANALYZE TABLE jobs;" >/dev/null ;;
    esac
    local n; n=$(left)
    [ "$n" -eq "$N" ] || { echo "restore put $n rows back, not $N" >&2; exit 1; }
}
explain_left() { # name: what the rows left behind look like, and what the worker logged
    echo "  rows left: $(sql "SELECT COUNT(*) FROM jobs WHERE reserved_at IS NOT NULL") reserved, $(sql "SELECT COUNT(*) FROM jobs WHERE reserved_at IS NULL") not reserved"
    local log=$BENCH_TMP/err.$1
    [[ $1 == *php ]] && log=$LOG_PATH
    echo "  'database is locked' in the worker's log: $(grep -c 'database is locked' "$log" 2>/dev/null || true)"
}

thousands() { # 12345.6 -> 12,346
    LC_ALL=C printf '%.0f' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'
}

echo "$(nproc) cores; N=$N per database; larq concurrency: $CONCS"
if [ "$PHP_N" -ne "$N" ]; then
    echo "PHP's worker drains the first $PHP_N of the $N rows (--php-n); its jobs/s are over those"
fi
for backend in $ONLY; do
    export DB_CONNECTION=$backend LOG_PATH=$BENCH_TMP/laravel-$backend.log
    case "$backend" in
        sqlite)
            export DB_DATABASE=$BENCH_TMP/bench.sqlite
            unset DB_HOST DB_PORT DB_USERNAME DB_PASSWORD
            version="SQLite $(sqlite3 --version | awk '{print $1}') (file in $BENCH_TMP)"
            ;;
        pgsql)
            export DB_HOST=127.0.0.1 DB_PORT=$PG_PORT DB_USERNAME=postgres DB_PASSWORD= DB_DATABASE=$PRIVATE_DB
            psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d test -qtAX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PRIVATE_DB" >/dev/null
            created_pg=1
            version="PostgreSQL $(sql "SHOW server_version")"
            ;;
        mysql)
            export DB_HOST=127.0.0.1 DB_PORT=$MY_PORT DB_USERNAME=root DB_PASSWORD= DB_DATABASE=$PRIVATE_DB
            "$mysql_cli" -h 127.0.0.1 -P "$MY_PORT" -u root -e "CREATE DATABASE $PRIVATE_DB"
            created_my=1
            version="MySQL/MariaDB $(sql "SELECT VERSION()")"
            ;;
        *) echo "unknown database $backend (sqlite, pgsql, mysql)" >&2; exit 2 ;;
    esac
    echo "=== $backend: $version ==="
    t0=$(now)
    timeout 600 "$root/php-fixtures/bin/dispatch" SomeJob "$N" --connection=database --user-id=1 \
        --increment --param=bench >/dev/null
    t1=$(now)
    sql "CREATE TABLE bench_jobs_copy AS SELECT * FROM jobs"
    [ "$(sql "SELECT COUNT(*) FROM bench_jobs_copy")" -eq "$N" ] || {
        echo "dispatch queued $(sql "SELECT COUNT(*) FROM bench_jobs_copy") rows, not $N" >&2; exit 1; }
    printf 'dispatch (PHP, %d jobs): %.2f s\n' "$N" "$(echo "$t1 - $t0" | bc -l)"
    BENCH_PREFIX="$backend-"
    full_n=$N
    N=$PHP_N # bench_run's rate and restore's rows
    bench_run "${backend}-php" php "$app/artisan" queue:work database --stop-when-empty --sleep=0
    N=$full_n
    bench_larq_sweep "$CONCS" "$larq" work database --env "$app/.env" --stop-when-empty --sleep=0
    bench_ratios
    best=${RATE[$BEST]}
    met="not met"
    if (( $(echo "$best >= $TARGET" | bc -l) )); then met=met; fi
    line=$(printf '%s: best larq %s jobs/s (%s) = %.1fx php (%s jobs/s); target %s: %s' "$backend" \
        "$(thousands "$best")" "${BEST#"$backend"-}" "$(echo "$best / ${RATE[${backend}-php]}" | bc -l)" \
        "$(thousands "${RATE[${backend}-php]}")" "$(thousands "$TARGET")" "$met")
    echo "$line"
    SUMMARY+=("$line")
done
echo "=== summary ==="
printf '%s\n' "${SUMMARY[@]}"
