# Shared by bench/e2e.sh (Redis) and bench/e2e_database.sh (database queue): timing one worker
# draining a prepared queue, its peak RSS, and the larq/PHP ratio line. Source it; it defines:
#
#   bench_run NAME COMMAND...   calls the caller's `restore` (puts the N jobs back) first and its
#                               `left` (jobs still queued) after; fails unless `left` is 0. Sets
#                               RATE[NAME] (jobs/s) and PEAK[NAME] (kB) and prints one line.
#   bench_larq_sweep "C..." COMMAND...   bench_run larq-cC for each C, COMMAND + --concurrency C;
#                               sets BEST to the fastest run's name.
#   bench_ratios [PREFIX]       "ratio larq-c1 / php: ...; best (...) / php: ..." for RATE[PREFIXphp].
#
# Needs: N (jobs per run), BENCH_TMP (scratch dir), `restore` and `left` functions.
# Output of the workers goes to /dev/null, their stderr to $BENCH_TMP/err.NAME.

declare -A RATE PEAK

now() { date +%s.%N; }
peak_kb() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }

bench_run() { # name, command...
    local name=$1; shift
    restore
    local t0 t1 remaining
    t0=$(now)
    timeout 600 /usr/bin/time -v -o "$BENCH_TMP/time.$name" "$@" >/dev/null 2>"$BENCH_TMP/err.$name" || {
        echo "$name failed:" >&2; tail -5 "$BENCH_TMP/err.$name" >&2; exit 1; }
    t1=$(now)
    remaining=$(left)
    if [ "$remaining" -ne 0 ]; then
        echo "$name left $remaining of $N jobs queued" >&2
        if declare -F explain_left >/dev/null; then explain_left "$name" >&2; fi
        exit 1
    fi
    RATE[$name]=$(echo "$N / ($t1 - $t0)" | bc -l)
    PEAK[$name]=$(peak_kb "$BENCH_TMP/time.$name")
    printf '%-22s %8.0f jobs/s  %6.2f s  peak RSS %6.1f MB\n' "$name" "${RATE[$name]}" \
        "$(echo "$t1 - $t0" | bc -l)" "$(echo "${PEAK[$name]} / 1024" | bc -l)"
}

bench_larq_sweep() { # "1 4 8", command... (without --concurrency)
    local concs=$1 c; shift
    BEST=""
    for c in $concs; do
        bench_run "${BENCH_PREFIX:-}larq-c$c" "$@" --concurrency "$c"
        if [ -z "$BEST" ] || (( $(echo "${RATE[${BENCH_PREFIX:-}larq-c$c]} > ${RATE[$BEST]}" | bc -l) )); then
            BEST=${BENCH_PREFIX:-}larq-c$c
        fi
    done
}

bench_ratios() {
    local p=${BENCH_PREFIX:-}
    printf 'ratio %slarq-c1 / %sphp: %.1fx;  best (%s) / php: %.1fx\n' "$p" "$p" \
        "$(echo "${RATE[${p}larq-c1]:-0} / ${RATE[${p}php]}" | bc -l)" "$BEST" \
        "$(echo "${RATE[$BEST]} / ${RATE[${p}php]}" | bc -l)"
}
