#!/usr/bin/env bash
# Installs and starts what larq's demo and tests need on a Debian machine. Idempotent: it only
# installs what is missing and only starts Redis when nothing answers on 127.0.0.1:6379.
# Under CI=true anything that cannot be provided is a hard failure, never a skip.
set -euo pipefail

need_pkgs=()
command -v php >/dev/null 2>&1 || need_pkgs+=(php-cli)
[ -f /usr/share/php/Illuminate/autoload.php ] || need_pkgs+=(php-laravel-framework)
php -m 2>/dev/null | grep -qi '^redis$' || need_pkgs+=(php-redis)
php -m 2>/dev/null | grep -qi '^pdo_sqlite$' || need_pkgs+=(php-sqlite3)
php -m 2>/dev/null | grep -qi '^mbstring$' || need_pkgs+=(php-mbstring)
php -m 2>/dev/null | grep -qi '^dom$' || need_pkgs+=(php-xml)
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_pkgs+=(redis-tools)
command -v sqlite3 >/dev/null 2>&1 || need_pkgs+=(sqlite3)
[ -x /usr/bin/time ] || need_pkgs+=(time)            # bench/e2e.sh: peak RSS (time -v)
command -v bc >/dev/null 2>&1 || need_pkgs+=(bc)     # bench/e2e.sh: rates

if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_pkgs[@]}"
fi

command -v cargo >/dev/null 2>&1 || { echo "setup: cargo is missing (install Rust with rustup)" >&2; exit 1; }

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "setup: starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || { echo "setup: Redis does not answer on 6379" >&2; exit 1; }
php -r 'exit(class_exists("Redis") ? 0 : 1);' || { echo "setup: phpredis is not loaded" >&2; exit 1; }
echo "setup: ok ($(php -r 'echo PHP_VERSION;'), $(redis-server --version | cut -d' ' -f3), $(cargo --version))"
