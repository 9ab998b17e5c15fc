"""docker-compose.yml: the services, health checks, volumes and commands the deployment relies on.

With the compose plugin available, the file is checked by ``docker compose config`` (which also
resolves it); without one (no Docker engine here), it is parsed and resolved the same way with
PyYAML (anchors and merge keys), and every command is checked against the project.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
APP_SERVICES = ("migrate", "web", "beat-1", "beat-2", "worker", "worker-heavy")


def _compose_plugin() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    return probe.returncode == 0


def _resolved() -> dict[str, Any]:
    if _compose_plugin():
        done = subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE), "config", "--format", "json"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "DJANGO_SECRET_KEY": "compose-config-check"},
        )
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))
    return dict(yaml.safe_load(COMPOSE.read_text()))


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def test_services_health_checks_and_volumes():
    config = _resolved()
    services = config["services"]
    assert set(services) == {"postgres", "redis", "rabbitmq", *APP_SERVICES}
    assert services["rabbitmq"]["profiles"] == ["rabbitmq"], "RabbitMQ starts only when asked for"
    for name in ("postgres", "redis", "rabbitmq"):
        assert services[name]["healthcheck"]["test"], name
        volume = str(
            services[name]["volumes"][0]
            if isinstance(services[name]["volumes"][0], str)
            else services[name]["volumes"][0]["source"]
        )
        assert volume.split(":")[0] in config["volumes"], name
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"], name
        assert env["REDIS_URL"].startswith("redis://redis:6379/"), name
        assert "DJANGO_SECRET_KEY" in env and env["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/metrics", name
        # (resolved by docker compose to "", read here as written: either way empty unless exported)
        assert env["BROKER_URL"] in ("", "${BROKER_URL:-}"), f"{name}: the broker is REDIS_URL's Redis by default"
    for name in APP_SERVICES[1:]:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"


def test_commands_run_what_the_project_provides():
    services = _resolved()["services"]
    assert _command(services["migrate"])[:3] == ["python", "manage.py", "migrate"]
    web = _command(services["web"])
    assert web[0] == "gunicorn" and web[-1] == "project.wsgi" and "python:project.gunicorn_conf" in web
    importlib.import_module("project.gunicorn_conf")
    assert (ROOT / "project" / "wsgi.py").exists() and (ROOT / "manage.py").exists()

    beats = [name for name in services if name.startswith("beat")]
    assert len(beats) == 2, "two beats: active-active is safe by design"
    for name in beats:
        assert _command(services[name])[:4] == ["celery", "-A", "project", "beat"]
        assert services[name]["environment"]["METRICS_PORT"] == "9100"

    queues = {}
    for name in ("worker", "worker-heavy"):
        command = _command(services[name])
        assert command[:4] == ["celery", "-A", "project", "worker"]
        queues[command[command.index("-Q") + 1]] = command[command.index("-c") + 1]
        assert "ports" not in services[name], "workers scale out: no fixed host port"
    assert set(queues) == {"default,notifications", "heavy"}, "the default worker also delivers notifications"
    assert all(
        concurrency.strip("${}").split(":-")[-1].isdigit() or concurrency.isdigit() for concurrency in queues.values()
    )


def test_health_checks_use_healthz_readyz_and_celery_ping():
    services = _resolved()["services"]
    web = " ".join(services["web"]["healthcheck"]["test"])
    assert "/healthz" in web and "/readyz" in web and "127.0.0.1:8000" in web
    from django.urls import resolve

    from project.health import HEALTHZ_PATH

    assert HEALTHZ_PATH == "/healthz" and resolve("/readyz").url_name == "readyz"
    for name in ("worker", "worker-heavy"):
        check = " ".join(services[name]["healthcheck"]["test"])
        node = _command(services[name])[_command(services[name]).index("-n") + 1].split("@")[0]
        assert "celery -A project inspect ping" in check and f"-d {node}@$" in check, name
        assert services[name]["healthcheck"]["interval"], name


def test_dockerfile_and_readme_match_the_compose_file():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "collectstatic" in dockerfile and "USER ostinato" in dockerfile
    assert 'CMD ["gunicorn", "-c", "python:project.gunicorn_conf", "project.wsgi"]' in dockerfile
    assert "docker compose up --scale worker=4" in (ROOT / "README.md").read_text()
