"""Example data for ``manage.py demo``: a few schedules that show the product working at once."""

from __future__ import annotations

import random
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from orchestrator.models import Job
from scheduling.models import Schedule, ScheduleSource

ADMIN_USERNAME = "admin"


def sample_log_path() -> Path:
    return Path(settings.VAR_DIR) / "demo" / "app.log"


def write_sample_log(path: Path, lines: int = 400, seed: int = 7) -> None:
    """A plausible application log with a few recurring errors, for the log_triage example."""
    rng = random.Random(seed)  # noqa: S311 (demo data)
    start = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    errors = [
        "timeout after {n}s talking to payments at 10.0.{a}.{b}",
        "could not acquire lock orders:{n}",
        "disk usage {n}% on /var/lib/postgresql",
    ]
    out = []
    for index in range(lines):
        stamp = (start + timedelta(seconds=index * 7)).strftime("%Y-%m-%d %H:%M:%S")
        roll = rng.random()
        if roll < 0.12:
            message = rng.choice(errors).format(n=rng.randint(10, 99), a=rng.randint(0, 9), b=rng.randint(1, 254))
            out.append(f"{stamp} ERROR {message}")
        elif roll < 0.25:
            out.append(f"{stamp} WARNING slow request /api/orders took {rng.randint(900, 4000)}ms")
        else:
            out.append(f"{stamp} INFO handled request /api/orders/{rng.randint(1, 9999)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")


DEMO_SCHEDULES: list[dict[str, Any]] = [
    {
        "name": "heartbeat",
        "job": "noop",
        "kind": "interval",
        "interval_seconds": 5,
        "description": "Does nothing every 5 seconds: watch it in the admin.",
    },
    {
        "name": "sleepy",
        "job": "sleep",
        "kind": "interval",
        "interval_seconds": 15,
        "params": {"seconds": 3},
        "description": "Sleeps 3 seconds every 15 seconds.",
    },
    {
        "name": "log-triage",
        "job": "log_triage",
        "kind": "interval",
        "interval_seconds": 30,
        "params": {"top": 5},
        "description": "Triages var/demo/app.log every 30 seconds; see the run's artifacts.",
    },
    {
        "name": "weekly-ops-chain",
        "job": "dag",
        "kind": "interval",
        "interval_seconds": 60,
        "params": {"dag": "configs/dags/weekly_ops_chain.min.yaml"},
        "description": "Runs the example DAG every minute: see the run's steps and per-step artifacts.",
    },
    {
        "name": "nightly-report",
        "job": "noop",
        "kind": "cron",
        "cron": "0 2 * * *",
        "timezone": "Europe/Berlin",
        "description": "A daily cron at 02:00 Berlin time (DST handled).",
    },
    {
        "name": "always-fails",
        "job": "fail",
        "kind": "interval",
        "interval_seconds": 60,
        "params": {"message": "this example fails on purpose"},
        "description": "Fails every minute, to show a failed run and its error.",
    },
]


def ensure_admin() -> tuple[str, str]:
    """The demo's superuser and its password (generated once, kept under var/)."""
    secret_file = Path(settings.VAR_DIR) / "demo-admin-password"
    if not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(secrets.token_urlsafe(12))
        secret_file.chmod(0o600)
    password = secret_file.read_text().strip()
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=ADMIN_USERNAME, defaults={"email": "admin@example.com"})
    if user.is_staff and user.is_superuser and user.is_active and user.check_password(password):
        return ADMIN_USERNAME, password  # unchanged: a restart keeps open browser sessions logged in
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)  # a new password ends the sessions (Django's session hash): only when it differs
    user.save()
    return ADMIN_USERNAME, password


def load_schedules() -> list[str]:
    """Create the demo schedules that are missing (existing ones are left as the operator edited them)."""
    log_path = sample_log_path()
    if not log_path.exists():
        write_sample_log(log_path)
    created = []
    with transaction.atomic():
        for spec in DEMO_SCHEDULES:
            if Schedule.objects.filter(name=spec["name"]).exists():
                continue
            fields = {key: value for key, value in spec.items() if key != "job"}
            if spec["job"] == "log_triage":
                fields["params"] = {**fields.get("params", {}), "path": str(log_path)}
            Schedule(job=Job.objects.get(key=spec["job"]), source=ScheduleSource.DEMO, **fields).save()
            created.append(spec["name"])
    return created
