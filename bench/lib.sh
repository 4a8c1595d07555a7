# Shared by bench/e2e.sh (Redis) and bench/e2e_database.sh (database queue): timing one worker
# draining a prepared queue, its peak RSS, and the larq/PHP ratio line. Source it; it defines:
#
#   bench_run NAME COMMAND...   calls the caller's `restore` (puts the N jobs back) first and its
#                               `left` (jobs still queued) after; fails unless `left` is 0. Sets
#                               RATE[NAME] (jobs/s) and PEAK[NAME] (kB) and prints one line.
#   bench_larq_sweep "C..." COMMAND...   for each C, REPS (default 1) runs of COMMAND
#                               --concurrency C (bench_run larq-cC#r); RATE[larq-cC] is their median
#                               (a line says so when REPS > 1). Sets BEST to the fastest larq-cC.
#   bench_ratios                "ratio larq-c1 / php: ...; best (...) / php: ...".
#
# Needs: N (jobs per run), BENCH_TMP (scratch dir), `restore` and `left` functions; optional
# BENCH_PREFIX (prefix of the run names: php and larq-cC become PREFIXphp, PREFIXlarq-cC), REPS
# and `explain_left NAME` (called when a run left jobs behind).
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
    local concs=$1 c r name rates; shift
    local p=${BENCH_PREFIX:-} reps=${REPS:-1}
    BEST=""
    for c in $concs; do
        name=${p}larq-c$c
        if [ "$reps" -le 1 ]; then
            bench_run "$name" "$@" --concurrency "$c"
        else
            rates=()
            for r in $(seq "$reps"); do
                bench_run "$name#$r" "$@" --concurrency "$c"
                rates+=("${RATE[$name#$r]}")
            done
            RATE[$name]=$(printf '%s\n' "${rates[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
            printf '%-22s %8.0f jobs/s  (median of %d)\n' "$name" "${RATE[$name]}" "$reps"
        fi
        if [ -z "$BEST" ] || (( $(echo "${RATE[$name]} > ${RATE[$BEST]}" | bc -l) )); then
            BEST=$name
        fi
    done
}

bench_ratios() {
    local p=${BENCH_PREFIX:-}
    printf 'ratio %slarq-c1 / %sphp: %.1fx;  best (%s) / php: %.1fx\n' "$p" "$p" \
        "$(echo "${RATE[${p}larq-c1]:-0} / ${RATE[${p}php]}" | bc -l)" "$BEST" \
        "$(echo "${RATE[$BEST]} / ${RATE[${p}php]}" | bc -l)"
}
