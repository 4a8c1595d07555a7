#!/usr/bin/env bash
# Runs every test: formatting, lints, unit, integration (real Redis, real PHP and the real Laravel
# app in php-fixtures/), doc tests. Installs and starts what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
cargo test --doc
