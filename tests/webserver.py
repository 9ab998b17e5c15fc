"""A real gunicorn web process for live tests (started through the ``live`` fixture, stopped by it)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping

from tests.processes import (
    PYTHON,
    Processes,
    free_port,
    wait_until,
)


def start_web(live: Processes, *, env: Mapping[str, str] | None = None, workers: int = 2) -> str:
    """Start gunicorn with the project's config on a free local port; return its base URL once it answers."""
    port = free_port()
    proc = live.start(
        "web",
        [PYTHON, "-m", "gunicorn", "-c", "python:project.gunicorn_conf", "project.wsgi"],
        env={"GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers), **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if not proc.alive():
            raise AssertionError(f"gunicorn exited early:\n{proc.tail()}")
        try:
            urllib.request.urlopen(f"{base}/admin/login/", timeout=2).close()
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    wait_until(answers, timeout=60, message="gunicorn to answer")
    return base


def get(url: str, *, headers: Mapping[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
