# Two commands for a new user: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test migrate demo check-python clean

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

# The embedded default: SQLite, local-memory cache, eager Celery, offline provider.
run: demo
	$(BIN)/python manage.py collectstatic --noinput -v 0
	@echo "Serving on http://$(HOST):$(PORT)/  (API docs: /api/docs/, admin: /admin/)"
	$(BIN)/uvicorn config.asgi:application --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
