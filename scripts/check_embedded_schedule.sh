#!/usr/bin/env bash
# Scripted check: `make run` on a clean clone runs the report schedule with no server installed.
# Clones this repository to a temporary directory, reuses this checkout's virtualenv, sets the
# daily report's schedule to every minute, starts `make run`, and waits (at most 150 s) for a
# report row to appear in the clone's SQLite database. Exit 0 when it does.
#   usage: scripts/check_embedded_schedule.sh [PORT]
set -euo pipefail
PORT="${1:-8130}"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
cleanup() {
    [[ -n "${RUN_PID:-}" ]] && kill -- -"$RUN_PID" 2>/dev/null || true
    sleep 2
    rm -rf "$WORK"
}
trap cleanup EXIT
git clone -q "$SRC" "$WORK/app"
cd "$WORK/app"
ln -s "$(readlink -f "$SRC/.venv")" .venv
unset DATABASE_URL REDIS_URL CELERY_BROKER_URL
# -o: the shared virtualenv is already installed; do not reinstall it for a fresh checkout's mtimes.
make -s -o .venv/bin/.installed migrate >/dev/null
.venv/bin/python manage.py shell --no-imports -c "
from django_celery_beat.models import CrontabSchedule, PeriodicTask
every_minute, _ = CrontabSchedule.objects.get_or_create(minute='*', hour='*', day_of_week='*', day_of_month='*', month_of_year='*', timezone='UTC')
PeriodicTask.objects.filter(name='audit: daily report').update(crontab=every_minute)
"
set -m
make -s -o .venv/bin/.installed run PORT="$PORT" >"${RUN_LOG:-$WORK/run.log}" 2>&1 &
RUN_PID=$!
set +m
for _ in $(seq 75); do
    sleep 2
    n=$(.venv/bin/python manage.py shell --no-imports -c "from apps.audit.models import AuditReport; print(AuditReport.objects.count())" 2>/dev/null | tail -1 || echo 0)
    [[ "$n" =~ ^[0-9]+$ ]] || n=0
    if [[ "$n" -ge 1 ]]; then
        echo "ok: a report appeared after ${SECONDS}s"
        exit 0
    fi
done
echo "no report after 150 s; log:" >&2
tail -50 "${RUN_LOG:-$WORK/run.log}" >&2
exit 1
