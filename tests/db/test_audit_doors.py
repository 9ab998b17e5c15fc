"""The audit trail at the doors that are no web request: YAML sync, both imports, the CLI, the beat, code.

Each names its actor (``yaml:<file>``, ``import_celery_beat``, ``beat_schedule``, ``cli``, ``beat``)
and door; bulk writes record their entries in one statement. The web doors are in ``test_audit``.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery.schedules import crontab
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orchestrator import audit
from orchestrator.connections import celery_app
from orchestrator.models import AuditEntry
from scheduling.engine import controls
from scheduling.models import Schedule
from scheduling.surfaces.yaml_sync import sync
from tests import celery_beat_tables as beat
from tests import factories, host_tasks

pytestmark = pytest.mark.django_db

assert host_tasks.add.name == "host.add"


def trail(obj: Any) -> list[AuditEntry]:
    """The object's entries, oldest first."""
    return list(reversed(audit.entries_for(obj)))


def last(obj: Any) -> AuditEntry:
    found = audit.entries_for(obj).first()
    assert found is not None
    return found


# --- YAML, imports, CLI, the beat -----------------------------------------------------------------


def _write(folder: Path, name: str, entries: list[dict[str, Any]]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(entries, sort_keys=False))
    return path


def test_yaml_sync_create_and_change_name_the_file(tmp_path: Path) -> None:
    entry = {"id": "from-yaml", "job": "probe", "interval_seconds": 300, "params": {"seconds": 1}}
    _write(tmp_path, "ops.yaml", [entry])
    sync(tmp_path)
    schedule = Schedule.objects.get(name="from-yaml")
    created = last(schedule)
    assert created.actor.startswith("yaml:") and created.actor.endswith("ops.yaml")
    assert (created.door, created.action) == ("yaml", "created")
    _write(tmp_path, "ops.yaml", [{**entry, "params": {"seconds": 2}}])
    sync(tmp_path)
    changed = last(schedule)
    assert (changed.actor, changed.door, changed.action) == (created.actor, "yaml", "changed")
    assert changed.changes == {"params": {"before": {"seconds": 1}, "after": {"seconds": 2}}}
    sync(tmp_path)  # unchanged: no entry
    assert audit.entries_for(schedule).count() == 2


def test_a_bulk_yaml_sync_writes_its_entries_in_one_statement(tmp_path: Path) -> None:
    entries: list[dict[str, Any]] = [{"id": f"bulk-{n}", "job": "noop", "interval_seconds": 60 + n} for n in range(60)]
    _write(tmp_path, "many.yaml", entries)
    with CaptureQueriesContext(connection) as queries:
        sync(tmp_path)
    inserts = [q["sql"] for q in queries.captured_queries if 'INSERT INTO "orchestrator_auditentry"' in q["sql"]]
    assert len(inserts) == 1
    assert AuditEntry.objects.filter(model="scheduling.schedule", action="created").count() == 60
    _write(tmp_path, "many.yaml", [{**e, "interval_seconds": e["interval_seconds"] + 1} for e in entries])
    with CaptureQueriesContext(connection) as queries:
        sync(tmp_path)
    inserts = [q["sql"] for q in queries.captured_queries if 'INSERT INTO "orchestrator_auditentry"' in q["sql"]]
    assert len(inserts) == 1
    entry = last(Schedule.objects.get(name="bulk-7"))
    assert entry.changes == {"interval_seconds": {"before": 67, "after": 68}}


def test_yaml_prune_with_delete_is_audited(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [{"id": "kept", "job": "noop", "interval_seconds": 60}])
    _write(tmp_path, "b.yaml", [{"id": "gone", "job": "noop", "interval_seconds": 60}])
    sync(tmp_path)
    pk = Schedule.objects.get(name="gone").pk
    (tmp_path / "b.yaml").unlink()
    sync(tmp_path, prune=True, delete=True)
    entry = audit.entries_for(Schedule, pk).first()
    assert entry is not None and entry.action == "deleted" and entry.door == "yaml"
    assert entry.actor.endswith("b.yaml")


def test_import_celery_beat_is_the_actor_of_what_it_imports() -> None:
    beat.create_tables()
    beat.periodic_task("imported-sums", "host.add", interval_id=beat.interval(2, "hours"), args="[1, 2]")
    call_command("import_celery_beat", stdout=StringIO())
    schedule = Schedule.objects.get(name="imported-sums")
    entry = last(schedule)
    assert (entry.actor, entry.door, entry.action) == ("import_celery_beat", "import", "created")
    call_command("import_celery_beat", "--disable-source", stdout=StringIO())
    entry = last(schedule)
    assert (entry.actor, entry.action) == ("import_celery_beat", "changed")
    assert set(entry.changes) == {"source_path"}


def test_sync_beat_schedule_is_the_actor_of_what_it_syncs() -> None:
    app = celery_app()
    saved = app.conf.beat_schedule
    app.conf.beat_schedule = {
        "quarterly-sums": {"task": "host.add", "schedule": crontab(minute="*/15"), "args": (1, 2)}
    }
    try:
        call_command("sync_beat_schedule", stdout=StringIO())
        schedule = Schedule.objects.get(name="quarterly-sums")
        assert (last(schedule).actor, last(schedule).door, last(schedule).action) == (
            "beat_schedule",
            "import",
            "created",
        )
        app.conf.beat_schedule = {}
        call_command("sync_beat_schedule", "--prune", stdout=StringIO())
        actions = [(e.actor, e.action) for e in trail(schedule)]
        assert actions[-2:] == [("beat_schedule", "disabled"), ("beat_schedule", "changed")]
    finally:
        app.conf.beat_schedule = saved


def test_cli_pause_and_resume_are_audited_as_the_cli() -> None:
    schedule = factories.schedule(name="cli-paused")
    call_command("pause", "cli-paused", "--note", "disk full", stdout=StringIO())
    paused = last(schedule)
    assert (paused.actor, paused.door, paused.action) == ("cli", "cli", "paused")
    assert paused.changes["pause_note"] == {"before": "", "after": "disk full"}
    call_command("resume", "cli-paused", stdout=StringIO())
    resumed = last(schedule)
    assert (resumed.actor, resumed.door, resumed.action) == ("cli", "cli", "resumed")
    assert resumed.changes["enabled"] == {"before": False, "after": True}
    assert resumed.changes["pause_note"] == {"before": "disk full", "after": ""}


def test_a_beat_resuming_at_resume_at_is_the_beat() -> None:
    now = timezone.now()
    schedule = factories.schedule(name="resumes-itself")
    controls.pause([schedule.pk], note="until tonight", by="alice", until=now + timedelta(hours=1), now=now)
    paused = last(schedule)
    assert (paused.actor, paused.door, paused.action) == ("alice", "beat", "paused")  # no door said otherwise
    assert controls.resume_due(now + timedelta(hours=2)) == 1
    resumed = last(schedule)
    assert (resumed.actor, resumed.door, resumed.action) == ("beat", "beat", "resumed")


def test_a_change_outside_any_door_is_still_recorded() -> None:
    schedule = factories.schedule(name="from-a-shell")
    schedule.jitter_seconds = 5
    schedule.save()
    entry = last(schedule)
    assert (entry.actor, entry.door, entry.changes) == (
        "unknown",
        "other",
        {"jitter_seconds": {"before": 0, "after": 5}},
    )
