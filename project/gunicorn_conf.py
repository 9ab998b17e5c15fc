"""Gunicorn settings for the web: ``gunicorn -c python:project.gunicorn_conf project.wsgi``.

Environment: ``GUNICORN_BIND`` (default ``0.0.0.0:8000``), ``WEB_CONCURRENCY`` (worker processes,
default 2), ``GUNICORN_TIMEOUT`` (seconds, default 30), ``GUNICORN_LIMIT_REQUEST_LINE`` (bytes,
default 4094). Metrics run in prometheus-client's
multiprocess mode: each worker writes to ``PROMETHEUS_MULTIPROC_DIR``, the master forgets a
dead worker's live gauges, and with ``METRICS_PORT`` set the master also serves /metrics there.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
#: The longest request line (method, path and query) in bytes; gunicorn answers 414 above it (0: no limit).
limit_request_line = int(os.environ.get("GUNICORN_LIMIT_REQUEST_LINE", "4094"))
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def when_ready(server: Any) -> None:
    import django

    django.setup()
    from scheduling.ops.metrics import start_exporter

    start_exporter("web")


def child_exit(server: Any, worker: Any) -> None:
    from scheduling.ops.metrics import mark_process_dead

    mark_process_dead(worker.pid)
