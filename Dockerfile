# Production image: uvicorn serving the root ASGI app (Django + /mcp). Settings: config.settings.production.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production

WORKDIR /app
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r requirements/base.txt

COPY . .
# collectstatic needs settings to load; the key used here is thrown away with this layer.
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput -v 0

RUN useradd --create-home app
USER app
EXPOSE 8000
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--proxy-headers"]
