#!/usr/bin/env bash
# Installs and starts what larq's demo and tests need on a Debian machine. Idempotent: it only
# installs what is missing and only starts Redis when nothing answers on 127.0.0.1:6379.
# Under CI=true anything that cannot be provided is a hard failure, never a skip.
set -euo pipefail

need_pkgs=()
mods=$(php -m 2>/dev/null || true)
command -v php >/dev/null 2>&1 || need_pkgs+=(php-cli)
[ -f /usr/share/php/Illuminate/autoload.php ] || need_pkgs+=(php-laravel-framework)
[ -f /usr/share/php/Dotenv/autoload.php ] || need_pkgs+=(php-vlucas-phpdotenv)   # tests/integration/dotenv_corpus.rs: the .env oracle
[ -f /usr/share/php/PhpAmqpLib/autoload.php ] || need_pkgs+=(php-amqplib)   # php-fixtures: the rabbitmq queue connection, bin/publish-task
grep -qi '^redis$' <<<"$mods" || need_pkgs+=(php-redis)
grep -qi '^pdo_sqlite$' <<<"$mods" || need_pkgs+=(php-sqlite3)
grep -qi '^pdo_pgsql$' <<<"$mods" || need_pkgs+=(php-pgsql)    # bench/e2e_database.sh: PHP on PostgreSQL
grep -qi '^pdo_mysql$' <<<"$mods" || need_pkgs+=(php-mysql)    # bench/e2e_database.sh: PHP on MariaDB
grep -qi '^mbstring$' <<<"$mods" || need_pkgs+=(php-mbstring)
grep -qi '^dom$' <<<"$mods" || need_pkgs+=(php-xml)
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_pkgs+=(redis-tools)
command -v sqlite3 >/dev/null 2>&1 || need_pkgs+=(sqlite3)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)   # tests/integration/redis_tls.rs: test CA + certificates
[ -d /etc/postgresql ] || need_pkgs+=(postgresql)
command -v mariadb >/dev/null 2>&1 || need_pkgs+=(mariadb-server)
command -v rabbitmqctl >/dev/null 2>&1 || need_pkgs+=(rabbitmq-server)   # the rabbitmq queue connection's tests and bench
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
if [ "$(id -u)" -eq 0 ]; then
  # The database tests want PostgreSQL and MariaDB on 127.0.0.1, database `test`, no password.
  # This machine kind starts both before CI; set them up only when they do not answer, so a
  # working installation is never touched. If they still do not answer, the tests fail loudly.
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || service postgresql start || true
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
      sed -i -E 's/^(host[[:space:]]+all[[:space:]]+all[[:space:]]+(127\.0\.0\.1\/32|::1\/128)[[:space:]]+)[^[:space:]]+/\1trust/' "$hba"
    done
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main reload || service postgresql reload || true
    su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'test'\" | grep -q 1 || createdb test" || true
  fi
  if ! mariadb -h 127.0.0.1 -u root -e 'SELECT 1' >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || service mariadb start || true
    for _ in $(seq 30); do mariadb -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done
    mariadb -e "CREATE DATABASE IF NOT EXISTS test; ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')" || true
  fi
  # RabbitMQ on 127.0.0.1:5672 with guest/guest (the package default the tests use; each test
  # makes a vhost of its own). Started only when rabbitmqctl cannot reach a node.
  if ! rabbitmqctl -q status >/dev/null 2>&1; then
    echo "setup: starting rabbitmq-server"
    service rabbitmq-server start || rabbitmq-server -detached || true
    for _ in $(seq 60); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done
  fi
  rabbitmqctl -q status >/dev/null 2>&1 || { [ "${CI:-}" != true ] || { echo "setup: RabbitMQ does not answer" >&2; exit 1; }; }
fi
# The newer real Laravels (10 and 13) live in Debian roots beside the machine's own 8
# (php-fixtures/bin/php-for enters them); under CI=true a root that cannot be made fails the run.
bash "$(dirname "$0")/laravel-roots.sh"
php -r 'exit(class_exists("Redis") ? 0 : 1);' || { echo "setup: phpredis is not loaded" >&2; exit 1; }
echo "setup: ok ($(php -r 'echo PHP_VERSION;'), $(redis-server --version | cut -d' ' -f3), $(cargo --version))"
