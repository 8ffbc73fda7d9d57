# Production image: the same commands as the Procfile (make stack), one process type per container.
# Settings: config.settings.production. Stage 1 builds wheels; stage 2 installs them, non-root.
FROM python:3.11-slim AS build
WORKDIR /build
COPY requirements/ requirements/
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements/base.txt

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
RUN useradd --create-home --uid 10001 app
WORKDIR /app
COPY --from=build /wheels /wheels
COPY requirements/ requirements/
RUN pip install --no-cache-dir --no-index --find-links /wheels -r requirements/base.txt && rm -rf /wheels

COPY --chown=app:app . .
# collectstatic only needs settings to load: a throw-away secret key and master key for this
# layer (production refuses to start without both; the real ones come from the environment).
RUN DJANGO_SECRET_KEY=build-only \
    KEY_ENCRYPTION_KEYS="build:$(python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')" \
    python manage.py collectstatic --noinput -v 0

USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
# The Procfile's web line (the worker and beat containers override the command, see docker-compose.yml).
CMD ["sh", "-c", "mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && rm -f \"$PROMETHEUS_MULTIPROC_DIR\"/*.db && exec uvicorn config.asgi:application --host 0.0.0.0 --port 8000 --workers \"${WEB_CONCURRENCY:-2}\" --proxy-headers --timeout-graceful-shutdown 10 --timeout-keep-alive 75 --no-access-log"]
