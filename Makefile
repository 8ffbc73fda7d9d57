# Two commands for a new user: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run stack test migrate demo admin check-python clean

check-python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version.split()[0]'

# Reinstalls whenever a requirements file changes.
$(BIN)/.installed: requirements/base.txt requirements/dev.txt | check-python
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements/dev.txt
	touch $@

install: $(BIN)/.installed

# A local master key for provider-key encryption, made once (git-ignored); KEY_ENCRYPTION_KEYS wins.
.local/master-keys:
	mkdir -p .local && chmod 700 .local
	$(PYTHON) -c 'import base64, os; print("local1:" + base64.b64encode(os.urandom(32)).decode())' > $@
	chmod 600 $@

migrate: install .local/master-keys
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py createdemo

# An account for the admin at /admin/ (Django's createsuperuser: it asks for a user name, an
# e-mail address and a password). Without a terminal, set DJANGO_SUPERUSER_USERNAME and
# DJANGO_SUPERUSER_PASSWORD (and optionally DJANGO_SUPERUSER_EMAIL) and nothing is asked.
admin: migrate
	$(BIN)/python manage.py createsuperuser $(if $(DJANGO_SUPERUSER_PASSWORD),--noinput --email "$${DJANGO_SUPERUSER_EMAIL:-admin@localhost}")

# The embedded default: SQLite, local-memory cache, offline provider, and a Celery worker with
# beat (reports, audit checkpoints, retention) on kombu's filesystem broker under .local/celery,
# so schedules run with no server installed. CELERY_BROKER_URL set: that broker instead.
run: demo
	$(BIN)/python manage.py collectstatic --noinput -v 0
	@echo "Serving on http://$(HOST):$(PORT)/  (chat: /chat/ as demo / demo-password; API docs: /api/docs/ and /api/redoc/)"
	@echo "Admin: http://$(HOST):$(PORT)/admin/  (no account yet? run 'make admin', in another terminal if you like: it asks for a name and password)"
	export CELERY_BROKER_URL="$${CELERY_BROKER_URL:-filesystem://}"; \
	$(BIN)/celery -A config worker -B --loglevel=WARNING --concurrency=1 -s .local/celerybeat-schedule & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/uvicorn config.asgi:application --host $(HOST) --port $(PORT) --no-access-log

# The production shape without Docker: 2 web processes on one port, a Celery worker and Celery beat
# (honcho runs the Procfile) against the PostgreSQL, Redis and RabbitMQ named in .env.stack.
stack: install
	BIN=$(BIN) bin/stack

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
