"""``manage.py sync_schedules`` on PostgreSQL: both formats, atomic failure, dry run, idempotence, prune."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from scheduling.models import Schedule
from tests.processes import wait_until

pytestmark = pytest.mark.django_db


def _sync(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("sync_schedules", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


@pytest.mark.django_db(transaction=True)
def test_watch_mode_syncs_each_change_and_survives_a_bad_edit(live, tmp_path: Path):
    folder = tmp_path / "watched"
    path = _write(folder, "a.yaml", "- id: watched\n  job: noop\n  interval_seconds: 60\n")
    watcher = live.manage("watch", "sync_schedules", str(folder), "--watch", "0.2", "--prune")
    wait_until(lambda: Schedule.objects.filter(name="watched").exists(), timeout=30, message="the first sync")

    path.write_text("- id: watched\n  job: noop\n  interval_seconds: 120\n")
    wait_until(
        lambda: Schedule.objects.filter(name="watched", interval_seconds=120).exists(), timeout=30, message="an edit"
    )
    path.write_text("- id: watched\n  job: noop\n  interval_seconds: 0\n")
    wait_until(lambda: "the schedules stay as they were" in watcher.output(), timeout=30, message="a bad edit")
    assert watcher.alive() and Schedule.objects.get(name="watched").interval_seconds == 120

    path.unlink()
    wait_until(lambda: Schedule.objects.filter(name="watched", enabled=False).exists(), timeout=30, message="the prune")
