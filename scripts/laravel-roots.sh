#!/usr/bin/env bash
# Makes the Debian roots that hold the newer real Laravels the tests run beside the machine's own
# (bookworm: Laravel 8.83): trixie (php-laravel-framework 10.48, PHP 8.4) and sid (13.x, PHP 8.4),
# under $LARQ_ROOTS (default /var/lib/larq/roots). php-fixtures/bin/php-for enters them.
# Idempotent: a root that is there is kept; a package of the list it lacks (one added to the list
# after the root was made) is installed into it with apt-get in the root. Needs root (mmdebstrap, chroot).
# Under CI=true a root that cannot be made fails the run; elsewhere it is a warning, and the
# tests of that version say they were skipped.
set -euo pipefail
roots=${LARQ_ROOTS:-/var/lib/larq/roots}
pkgs=php-cli,php-laravel-framework,php-redis,php-sqlite3,php-pgsql,php-mysql,php-mbstring,php-xml,php-amqplib
mirror=${LARQ_DEBIAN_MIRROR:-http://deb.debian.org/debian}

fail() {
  if [ "${CI:-}" = "true" ]; then
    echo "laravel-roots: $*" >&2
    exit 1
  fi
  echo "laravel-roots: warning: $* (the Laravel 10 and 13 tests will be skipped)" >&2
  exit 0
}

[ "$(id -u)" -eq 0 ] || fail "must run as root to make $roots"
if ! command -v mmdebstrap >/dev/null 2>&1; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap ||
    fail "cannot install mmdebstrap"
fi
mkdir -p "$roots"
for suite in trixie sid; do
  root="$roots/$suite"
  if [ -e "$root/usr/share/php/Illuminate/Foundation/Application.php" ]; then
    # A root made before a package joined the list gets it now.
    missing=()
    for p in ${pkgs//,/ }; do
      chroot "$root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
      echo "laravel-roots: installing ${missing[*]} into $root"
      { chroot "$root" apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q "${missing[@]}" &&
        chroot "$root" apt-get clean; } >>"$roots/$suite.log" 2>&1 ||
        { tail -n 20 "$roots/$suite.log" >&2; fail "apt-get install ${missing[*]} in $root failed (log: $roots/$suite.log)"; }
    fi
    continue
  fi
  echo "laravel-roots: making $root ($pkgs)"
  rm -rf "$root.tmp"
  start=$(date +%s)
  # A mirror's Release file can be past its Valid-Until date (sid's often is between pushes).
  mmdebstrap --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' --include="$pkgs" \
    "$suite" "$root.tmp" "$mirror" >"$roots/$suite.log" 2>&1 ||
    { tail -n 20 "$roots/$suite.log" >&2; fail "mmdebstrap $suite failed (log: $roots/$suite.log)"; }
  # Laravel 11+ merges its own base configuration from four directories above
  # Illuminate/Foundation/Bootstrap, which is vendor/laravel/framework/config in a Composer
  # install; Debian ships that directory as /usr/share/php/Illuminate/config.
  if [ -d "$root.tmp/usr/share/php/Illuminate/config" ]; then
    ln -sfn php/Illuminate/config "$root.tmp/usr/share/config"
  fi
  mv "$root.tmp" "$root"
  echo "laravel-roots: $suite ready in $(( $(date +%s) - start )) s ($(du -sh "$root" | cut -f1))"
done
for suite in trixie sid; do
  v=$(sed -n "s/.*const VERSION = '\([^']*\)'.*/\1/p" "$roots/$suite/usr/share/php/Illuminate/Foundation/Application.php")
  echo "laravel-roots: $suite has Laravel $v"
done
