#!/usr/bin/env bash
# Runs every test: formatting, lints, unit, integration (real Redis, real PHP and the real Laravel
# app in php-fixtures/), doc tests, then a bounded fuzzing run. Installs and starts what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# CI builds once from scratch: incremental caches would only add ~1 GB to its disk. Report the
# free space, so a build that runs out of it says so before the compiler does.
if [ "${CI:-}" = "true" ]; then
  export CARGO_INCREMENTAL=0
fi
echo "test: free disk for the build: $(df -h --output=avail . 2>/dev/null | tail -n 1 | tr -d ' ')"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
cargo test --doc
# The library without its command line builds on its own, and the API docs have no broken link.
cargo build --lib --no-default-features
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
# Then fuzz every target for a bounded time (docs/php-serialize-format.md, "Fuzzing"); a crash fails
# the run. On a fresh machine most of it is installing cargo-fuzz and building the instrumented
# targets (docs/reliability.md has the measured times). LARQ_FUZZ_SECONDS=0 leaves it out.
if [ "${LARQ_FUZZ_SECONDS:-30}" != 0 ]; then
  bash scripts/fuzz.sh "${LARQ_FUZZ_SECONDS:-30}"
fi
