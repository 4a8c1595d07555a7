# Source this to point the fixture app at a Redis server and an SQLite file:
#   REDIS_PORT=6390 DB_DATABASE=/tmp/x.sqlite source php-fixtures/bin/env.sh
# Defaults: 127.0.0.1:6379 and php-fixtures/app/database/database.sqlite. Then e.g.
#   php "$LARQ_APP/artisan" queue:work redis --stop-when-empty
LARQ_APP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../app" && pwd)
export LARQ_APP
export REDIS_HOST=${REDIS_HOST:-127.0.0.1}
export REDIS_PORT=${REDIS_PORT:-6379}
export DB_DATABASE=${DB_DATABASE:-$LARQ_APP/database/database.sqlite}
# Optional: LARQ_RECORD_FILE=/path/to/records.jsonl makes every App\Jobs handle() append a JSON line.
export LARQ_RECORD_FILE=${LARQ_RECORD_FILE:-}
