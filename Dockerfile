# The one image for every service of docker-compose.yml (web, beat, workers, migrate).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_STATIC_ROOT=/app/static \
    SCHEDULER_VAR_DIR=/app/var \
    PYTHONPATH=/app

WORKDIR /app
RUN groupadd --system ostinato && useradd --system --gid ostinato --home-dir /app ostinato

# The pinned runtime dependencies of pyproject.toml, and nothing else (a layer that changes only with them).
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

COPY . .
# The three apps' metadata (the celery.commands entry point), without dependencies; the standalone
# project itself is not installed: it runs from /app (PYTHONPATH).
RUN pip install --no-deps --editable . \
    && DJANGO_SECRET_KEY=collectstatic-only DATABASE_URL=sqlite:////tmp/build.sqlite3 REDIS_URL=redis://localhost:6379/0 \
       python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var /data \
    && chown -R ostinato:ostinato /app/var /data

USER ostinato
EXPOSE 8000 9100
CMD ["gunicorn", "-c", "python:project.gunicorn_conf", "project.wsgi"]
