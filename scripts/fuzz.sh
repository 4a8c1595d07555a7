#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target in fuzz/ for a bounded time, seeded from the captured Laravel
# corpora (php-fixtures/corpus/laravel-*/) and the saved crashes (fuzz/regressions/).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     SECONDS per target (default 30); all targets by default
#
# Installs cargo-fuzz from crates.io when it is missing. A crash, timeout or out-of-memory input
# fails the run (after the other targets ran) and is printed with its path, its bytes in base64 and
# the command that reproduces it; it is also copied into fuzz/regressions/<target>/, where
# tests/integration/fuzz_regressions.rs replays it in every `cargo test` once committed.
# Under CI=true a failure to install cargo-fuzz is a failure; elsewhere it is a loud skip. A target
# that does not build always fails the run.
#
# Environment: LARQ_CARGO_FUZZ_VERSION (installed when missing, default 0.13.2),
# LARQ_FUZZ_TARGET_DIR (default fuzz/target), LARQ_FUZZ_RSS_MB (default 2048),
# LARQ_FUZZ_TIMEOUT (seconds one input may take, default 20), LARQ_FUZZ_SANITIZER (address, the
# default, which also finds leaks; or none: a cheaper build and faster runs, panics only).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${1:-30}
[ $# -gt 0 ] && shift
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || { echo "fuzz: SECONDS must be a positive integer, got '$seconds'" >&2; exit 2; }
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
rss_mb=${LARQ_FUZZ_RSS_MB:-2048}
unit_timeout=${LARQ_FUZZ_TIMEOUT:-20}
sanitizer=${LARQ_FUZZ_SANITIZER:-address}
in_ci=false
[ "${CI:-}" = "true" ] && in_ci=true

say() { echo "fuzz: $*"; }
now() { date +%s; }

# --- cargo-fuzz -----------------------------------------------------------------------------------
t0=$(now)
if ! cargo fuzz --version >/dev/null 2>&1; then
  # Pinned so that CI does not change under us; the version the docs' measurements used.
  version=${LARQ_CARGO_FUZZ_VERSION:-0.13.2}
  say "installing cargo-fuzz $version from crates.io (cargo install cargo-fuzz --locked)"
  if ! cargo install cargo-fuzz --version "$version" --locked; then
    if $in_ci; then
      echo "fuzz: FAILED: could not install cargo-fuzz (CI=true: this is a failure, not a skip)" >&2
      exit 1
    fi
    echo "fuzz: SKIPPED: could not install cargo-fuzz; nothing was fuzzed" >&2
    exit 0
  fi
fi
t_install=$(( $(now) - t0 ))
say "$(cargo fuzz --version) ready (${t_install} s)"

# The instrumented build gets its own target directory: its flags (sanitizer, coverage) would
# invalidate an ordinary build's artifacts, and cargo-fuzz looks for the binaries there.
export CARGO_TARGET_DIR=${LARQ_FUZZ_TARGET_DIR:-$root/fuzz/target}
# cargo-fuzz passes -Z flags (sanitizer, coverage); RUSTC_BOOTSTRAP lets the stable toolchain,
# the only one a fresh machine has, accept them. A nightly toolchain ignores it.
export RUSTC_BOOTSTRAP=1

# --- build ----------------------------------------------------------------------------------------
t0=$(now)
say "building ${targets[*]} (release, debug assertions, sanitizer $sanitizer) into $CARGO_TARGET_DIR"
for target in "${targets[@]}"; do
  if ! (cd fuzz && cargo fuzz build --sanitizer "$sanitizer" "$target"); then
    echo "fuzz: FAILED: the fuzz target '$target' does not build" >&2
    exit 1
  fi
done
t_build=$(( $(now) - t0 ))
say "built in ${t_build} s"

# --- seeds ----------------------------------------------------------------------------------------
# Generated at every run from the committed corpus, never committed themselves: each captured
# payload's serialized command (an encrypted one decrypted with the fixture app's key, both the
# PHP string Laravel encrypts and the command inside it). tests/integration/fuzz_regressions.rs replays the
# same inputs.
seeds=$root/fuzz/seeds
rm -rf "$seeds"
mkdir -p "$seeds"
command -v php >/dev/null 2>&1 || { echo "fuzz: FAILED: php is needed to extract the seed corpus (scripts/setup.sh installs it)" >&2; exit 1; }
n_seeds=$(php -d display_errors=stderr -r '
  [$_, $corpus, $out, $envfile] = $argv;
  $key = null;
  foreach (file($envfile) as $line) {
    if (preg_match("/^APP_KEY=(.*)$/", trim($line), $m)) { $key = trim($m[1], "\""); }
  }
  if ($key === null) { fwrite(STDERR, "no APP_KEY in $envfile\n"); exit(1); }
  if (str_starts_with($key, "base64:")) { $key = base64_decode(substr($key, 7)); }
  $n = 0;
  foreach (glob("$corpus/laravel-*/*.json") as $file) {
    if (str_ends_with($file, ".expect.json")) { continue; }
    $payload = json_decode(file_get_contents($file), true, 512, JSON_THROW_ON_ERROR);
    $command = $payload["data"]["command"] ?? null;
    if (!is_string($command)) { continue; }
    $name = basename(dirname($file))."-".basename($file, ".json");
    $out_files = [];
    if (str_starts_with($command, "O:")) {
      $out_files[$name] = $command;
    } else {
      $envelope = json_decode(base64_decode($command), true);
      $plain = is_array($envelope)
        ? openssl_decrypt($envelope["value"], "AES-256-CBC", $key, 0, base64_decode($envelope["iv"]))
        : false;
      if ($plain === false) { fwrite(STDERR, "cannot decrypt the command of $file\n"); exit(1); }
      $out_files["$name.encrypted-string"] = $plain;
      $inner = unserialize($plain, ["allowed_classes" => false]);
      if (is_string($inner)) { $out_files[$name] = $inner; }
    }
    foreach ($out_files as $seed => $bytes) { file_put_contents("$out/$seed", $bytes); $n++; }
  }
  echo $n;
' "$root/php-fixtures/corpus" "$seeds" "$root/php-fixtures/app/.env") || { echo "fuzz: FAILED: could not extract seeds from php-fixtures/corpus" >&2; exit 1; }
[ "$n_seeds" -ge 30 ] || { echo "fuzz: FAILED: only $n_seeds seeds extracted from php-fixtures/corpus" >&2; exit 1; }
say "$n_seeds seeds from php-fixtures/corpus in $seeds"

# --- run ------------------------------------------------------------------------------------------
logs=$root/fuzz/logs
mkdir -p "$logs"
failed=()
summary=()
for target in "${targets[@]}"; do
  corpus=$root/fuzz/corpus/$target          # libFuzzer's working corpus: grows, kept locally
  regressions=$root/fuzz/regressions/$target
  artifacts=$root/fuzz/artifacts/$target/
  mkdir -p "$corpus" "$regressions" "$artifacts"
  log=$logs/$target.log
  say "running $target for $seconds s (log: $log)"
  set +e
  (cd fuzz && cargo fuzz run --sanitizer "$sanitizer" "$target" "$corpus" "$seeds" "$regressions" -- \
      -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout="$unit_timeout" \
      -dict="$root/fuzz/php.dict" -artifact_prefix="$artifacts" -print_final_stats=1) >"$log" 2>&1
  status=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 || true)
  if [ "$status" -eq 0 ]; then
    line="$target: ${execs:-?} execs in $seconds s, ${cov:-no stats}, no crash"
    say "$line"
    summary+=("$line")
    continue
  fi
  failed+=("$target")
  summary+=("$target: FAILED after ${execs:-?} execs (exit $status)")
  echo "fuzz: ===================== $target FAILED (exit $status) =====================" >&2
  tail -n 60 "$log" >&2
  found=false
  while IFS= read -r input; do
    [ -f "$input" ] || continue
    found=true
    cp "$input" "$regressions/"
    echo "fuzz: crashing input: $input ($(wc -c <"$input") bytes), copied to $regressions/$(basename "$input")" >&2
    echo "fuzz: reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $target $input" >&2
    echo "fuzz: its bytes, base64: $(head -c 65536 "$input" | base64 -w0)" >&2
  done < <(grep -Eo 'Test unit written to [^ ]+' "$log" | awk '{print $NF}' | sort -u || true)
  $found || echo "fuzz: no crashing input was written; the log above says why" >&2
done

say "install ${t_install} s, build ${t_build} s, ${#targets[@]} target(s) x ${seconds} s"
for line in "${summary[@]}"; do say "$line"; done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs copied into fuzz/regressions/; cargo test --test integration fuzz_regressions:: replays them)" >&2
  exit 1
fi
