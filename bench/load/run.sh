#!/usr/bin/env bash
# The load test: `bench/load/run.sh` (defaults: 200 users, 3 minutes). Starts the fake provider and
# `bin/stack` (make stack) on their own database/port/queue, seeds users, runs locust headless
# (installed here into its own venv, .local/bench-venv, not the project's requirements), samples
# the worker's queue depth, prints the summary and stops what it started.
#   LOAD_USERS_ACTIVE=200 LOAD_DURATION=3m LOAD_PORT=8095 bench/load/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=${PY:-$ROOT/.venv/bin/python}
LOCUST_VERSION=2.47.0
BENCH_VENV=${BENCH_VENV:-$ROOT/.local/bench-venv}
OUT=${LOAD_OUT:-$ROOT/.local/load}
USERS=${LOAD_USERS_ACTIVE:-200}
DURATION=${LOAD_DURATION:-3m}
PORT=${LOAD_PORT:-8095}
DB_URL=${LOAD_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/todoassist_load}
BROKER=${LOAD_BROKER_URL:-amqp://guest:guest@127.0.0.1:5672//}
VHOST=${BROKER##*:5672/}; VHOST=${VHOST:-/}
QUEUE=load-$$
mkdir -p "$OUT" && rm -f "$OUT/fake.url"

if [ ! -x "$BENCH_VENV/bin/locust" ]; then
  python3 -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/pip" install -q "locust==$LOCUST_VERSION"
fi

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  sleep 3
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# The fake OpenAI server (tests/fakes), answering every chat call with an echo.
setsid "$PY" -c "
import time
from tests.fakes.provider_server import FakeProviderServer
server = FakeProviderServer().start()
open('$OUT/fake.url', 'w').write(server.url)
while True:
    time.sleep(60)
    server.requests.clear()  # recorded for tests; here only memory
" >"$OUT/fake.log" 2>&1 &
pids+=($!)
for _ in $(seq 40); do [ -s "$OUT/fake.url" ] && break; sleep 0.25; done
FAKE_URL=$(cat "$OUT/fake.url")

export DATABASE_URL=$DB_URL REDIS_URL=${LOAD_REDIS_URL:-redis://127.0.0.1:6379/2} CELERY_BROKER_URL=$BROKER
export CELERY_TASK_DEFAULT_QUEUE=$QUEUE CACHE_KEY_PREFIX=load-$$ STACK_PORT=$PORT MCP_PUBLIC_URL=http://127.0.0.1:$PORT
export PROMETHEUS_MULTIPROC_DIR=$OUT/prometheus METRICS_TOKEN=load-metrics-token LOG_LEVEL=WARNING REQUEST_LOG_LEVEL=WARNING
"$PY" - <<PYEOF
import psycopg
with psycopg.connect("${DB_URL%/*}/postgres", autocommit=True) as c:
    c.execute('DROP DATABASE IF EXISTS "${DB_URL##*/}" WITH (FORCE)')
PYEOF
BIN=$(dirname "$PY") setsid bin/stack >"$OUT/stack.log" 2>&1 &
pids+=($!)
for _ in $(seq 240); do
  curl -sf -m 3 "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -sf -m 3 "http://127.0.0.1:$PORT/readyz" >/dev/null || { tail -40 "$OUT/stack.log"; exit 1; }

# The seeding shell: the stack's settings and secrets (made in .local/ by bin/stack).
export DJANGO_SETTINGS_MODULE=config.settings.production DJANGO_ALLOWED_HOSTS=127.0.0.1
export DJANGO_SECRET_KEY=${DJANGO_SECRET_KEY:-$(cat .local/secret-key)} KEY_ENCRYPTION_KEYS=${KEY_ENCRYPTION_KEYS:-$(cat .local/master-keys)}
LOAD_FAKE_PROVIDER_URL=$FAKE_URL LOAD_USERS=${LOAD_USERS:-50} \
  "$PY" manage.py shell <bench/load/seed.py | grep '^LOAD_TOKENS=' >"$OUT/tokens.env"
export "$(cat "$OUT/tokens.env")"

# Queue depth of the worker's queue, every 5 s.
( while true; do
    depth=$(rabbitmqctl -q list_queues -p "$VHOST" name messages 2>/dev/null | awk -v q="$QUEUE" '$1 == q {print $2}')
    echo "$(date +%s) ${depth:-0}"; sleep 5
  done ) >"$OUT/queue-depth.txt" &
sampler=$!

"$BENCH_VENV/bin/locust" -f bench/load/locustfile.py --headless -u "$USERS" -r 10 -t "$DURATION" \
  --host "http://127.0.0.1:$PORT" --csv "$OUT/locust" --only-summary 2>&1 | tail -40 | tee "$OUT/summary.txt" || true
kill "$sampler" 2>/dev/null || true
echo "queue depth (max / mean over $(wc -l <"$OUT/queue-depth.txt") samples): $(awk '{ if ($2 > m) m = $2; s += $2 } END { printf "%d / %.1f", m, s / NR }' "$OUT/queue-depth.txt")" | tee -a "$OUT/summary.txt"
"$PY" - "$OUT/locust_stats.csv" <<'PYEOF' | tee -a "$OUT/summary.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("| request | count | failures | p50 ms | p95 ms | p99 ms | req/s |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['Name']} | {r['Request Count']} | {r['Failure Count']} | {r['50%']} | {r['95%']} | {r['99%']} | {float(r['Requests/s']):.1f} |")
PYEOF
