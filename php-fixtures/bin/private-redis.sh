# Sourced by php-fixtures scripts: starts a throw-away redis-server on a free port in a temp dir
# and exports REDIS_HOST/REDIS_PORT; the server is killed by the EXIT trap.
#   source php-fixtures/bin/private-redis.sh   (sets LARQ_TMP, REDIS_HOST, REDIS_PORT, REDIS_PID)
LARQ_TMP=$(mktemp -d "${TMPDIR:-/tmp}/larq-fixtures.XXXXXX")
REDIS_HOST=127.0.0.1
REDIS_PORT=$(php -r '$s = stream_socket_server("tcp://127.0.0.1:0"); $n = stream_socket_get_name($s, false); echo substr($n, strrpos($n, ":") + 1);')
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$LARQ_TMP" \
    --logfile "$LARQ_TMP/redis.log" --daemonize no &
REDIS_PID=$!
larq_cleanup() {
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    rm -rf "$LARQ_TMP"
}
trap larq_cleanup EXIT
for _ in $(seq 1 100); do
    redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.05
done
export REDIS_HOST REDIS_PORT LARQ_TMP
