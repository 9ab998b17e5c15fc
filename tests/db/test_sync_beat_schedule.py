"""``manage.py sync_beat_schedule`` and the sync every beat runs at start, on PostgreSQL."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import crontab, schedule, solar
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.tzcrontab import TzAwareCrontab  # Celery's crontab with a zone of its own; no models
from rest_framework.test import APIClient

from orchestrator.connections import celery_app
from scheduling.engine.beat import Scheduler
from scheduling.models import Schedule
from scheduling.surfaces.imports.beat_schedule import PRUNED
from tests import factories, host_tasks

pytestmark = pytest.mark.django_db

assert host_tasks.who.name == "host.who"  # the host's tasks are registered in the app


@pytest.fixture
def beat_schedule() -> Iterator[dict[str, Any]]:
    """The Celery app's ``beat_schedule`` for this test (restored after)."""
    app = celery_app()
    saved = app.conf.beat_schedule
    entries: dict[str, Any] = {}
    app.conf.beat_schedule = entries
    yield entries
    app.conf.beat_schedule = saved


def run(*options: str) -> list[str]:
    out = StringIO()
    call_command("sync_beat_schedule", *options, stdout=out)
    return out.getvalue().splitlines()


def writes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


def test_crontabs_intervals_and_their_arguments_become_code_schedules(beat_schedule: dict[str, Any]) -> None:
    beat_schedule.update(
        {
            "weekday-sums": {
                "task": "host.add",
                "schedule": crontab(minute="*/15", hour="9-17", day_of_week="mon-fri"),
                "args": (1, 2),
                "kwargs": {"scale": 2},
            },
            "berlin-morning": {"task": "host.who", "schedule": TzAwareCrontab("0", "7", tz=ZoneInfo("Europe/Berlin"))},
            "every-5-min": {"task": "host.who", "schedule": timedelta(minutes=5), "kwargs": {"note": "n"}},
            "every-90-s": {"task": "host.who", "schedule": 90.0},
            "every-hour": {"task": "host.who", "schedule": schedule(run_every=timedelta(hours=1))},
        }
    )
    assert run() == [
        "weekday-sums: created",
        "berlin-morning: created",
        "every-5-min: created",
        "every-90-s: created",
        "every-hour: created",
        "5 created, 0 updated, 0 unchanged, 0 skipped",
    ]
    sums = Schedule.objects.get(name="weekday-sums")
    assert (sums.kind, sums.cron, sums.timezone, sums.job.key) == ("cron", "*/15 9-17 * * 1-5", "UTC", "host.add")
    assert sums.params == {"args": [1, 2], "kwargs": {"scale": 2}}
    assert (sums.source, sums.source_path, sums.enabled) == ("code", "beat_schedule", True)
    morning = Schedule.objects.get(name="berlin-morning")
    assert (morning.cron, morning.timezone) == ("0 7 * * *", "Europe/Berlin")
    intervals = Schedule.objects.filter(kind="interval").order_by("interval_seconds")
    assert [(s.name, s.interval_seconds) for s in intervals] == [
        ("every-90-s", 90),
        ("every-5-min", 300),
        ("every-hour", 3600),
    ]


def _sunrise() -> solar:
    """``solar("sunrise", 40.7, -74.0)`` as Celery makes it (its constructor needs ephem, not installed here)."""
    sun = solar.__new__(solar)
    sun.event, sun.lat, sun.lon = "sunrise", 40.7, -74.0
    return sun


def test_entries_that_do_not_map_are_skipped_with_the_reason(beat_schedule: dict[str, Any]) -> None:
    factories.schedule("noop", name="yaml-made", source="yaml", source_path="deploy/a.yaml")
    beat_schedule.update(
        {
            "sunrise": {"task": "host.who", "schedule": _sunrise()},
            "half-second": {"task": "host.who", "schedule": 1.5},
            "odd": {"task": "host.who", "schedule": "daily"},
            "no-task": {"schedule": 60},
            "unknown-task": {"task": "billing.nope", "schedule": 60},
            "bad-args": {"task": "host.add", "schedule": 60, "args": [1]},
            "unstorable": {"task": "host.who", "schedule": 60, "kwargs": {"note": object()}},
            "elsewhere": {"task": "host.who", "schedule": 60, "options": {"queue": "reports"}},
            "extra-key": {"task": "host.who", "schedule": 60, "enabled": False},
            "yaml-made": {"task": "host.who", "schedule": 60},
            "dropping": {"task": "host.who", "schedule": 60, "options": {"priority": 3, "expires": 30}},
        }
    )
    lines = run()
    assert lines[0].startswith("sunrise: skipped: a solar schedule (sunrise at latitude 40.7, longitude -74.0)")
    assert lines[1] == (
        "half-second: skipped: schedule 1.5 s is not a whole number of seconds, and intervals here are whole "
        "seconds; make it whole"
    )
    assert lines[2] == (
        "odd: skipped: schedule 'daily' is a str; only a crontab, a schedule, a timedelta or a number of seconds "
        "can be synced"
    )
    assert lines[3] == "no-task: skipped: task must be the name of a Celery task, not None"
    assert lines[4].startswith("unknown-task: skipped: task 'billing.nope' is not a task of this Celery app")
    assert lines[5] == (
        "bad-args: skipped: params: args and kwargs do not fit host.add(x, y, *, scale=1): missing a required "
        "argument: 'y'"
    )
    assert lines[6].startswith("unstorable: skipped: args and kwargs cannot be stored as JSON: Object of type object")
    assert lines[7].startswith("elsewhere: skipped: queue 'reports' is not the queue of the job host.who ('default')")
    assert lines[8] == ("extra-key: skipped: enabled: not keys of a beat_schedule entry (Celery refuses them too)")
    assert lines[9].startswith(
        "yaml-made: skipped: a schedule named 'yaml-made' was made in the YAML sync, not by the beat_schedule sync"
    )
    assert lines[10] == (
        "dropping: created (dropped priority 3: runs have no message priority here; dropped expires 30: a run's "
        "message does not expire here (the job's timeout bounds the run))"
    )
    assert lines[11] == "1 created, 0 updated, 0 unchanged, 10 skipped"
    assert set(Schedule.objects.values_list("name", flat=True)) == {"yaml-made", "dropping"}


def test_syncing_again_changes_nothing_and_picks_up_edits(beat_schedule: dict[str, Any]) -> None:
    beat_schedule["nightly"] = {"task": "host.add", "schedule": crontab(minute=0, hour=3), "args": [1, 2]}
    beat_schedule["often"] = {"task": "host.who", "schedule": 60}
    run()
    with CaptureQueriesContext(connection) as queries:
        assert run() == ["nightly: unchanged", "often: unchanged", "0 created, 0 updated, 2 unchanged, 0 skipped"]
    assert writes(queries) == []
    beat_schedule["nightly"] = {"task": "host.add", "schedule": crontab(minute=30, hour=3), "args": [3, 4]}
    assert run()[0] == (
        "nightly: updated (params: {'args': [1, 2], 'kwargs': {}} -> {'args': [3, 4], 'kwargs': {}}; "
        "cron: '0 3 * * *' -> '30 3 * * *')"
    )
    assert Schedule.objects.get(name="nightly").cron == "30 3 * * *"


def test_a_sync_never_enables_what_an_operator_disabled(beat_schedule: dict[str, Any]) -> None:
    beat_schedule["paused"] = {"task": "host.who", "schedule": 60}
    run()
    Schedule.objects.filter(name="paused").set_enabled(False)
    assert run()[0] == "paused: unchanged"
    assert Schedule.objects.get(name="paused").enabled is False


def test_prune_disables_what_left_beat_schedule_and_an_entry_back_is_enabled_again(
    beat_schedule: dict[str, Any],
) -> None:
    factories.schedule("noop", name="admin-made")
    beat_schedule["kept"] = {"task": "host.who", "schedule": 60}
    beat_schedule["dropped"] = {"task": "host.who", "schedule": 120}
    run()
    del beat_schedule["dropped"]
    assert run()[-1] == "not in beat_schedule any more, still enabled: dropped (--prune disables them)"
    assert Schedule.objects.get(name="dropped").enabled is True
    assert run("--prune", "--dry-run") == [
        "kept: unchanged",
        "dropped: would be pruned (enabled: True -> False; gone from beat_schedule)",
        "dry run, nothing written: would be 0 created, 0 updated, 1 unchanged, 0 skipped, 1 pruned",
    ]
    assert Schedule.objects.get(name="dropped").enabled is True
    assert run("--prune") == [
        "kept: unchanged",
        "dropped: pruned (enabled: True -> False; gone from beat_schedule)",
        "0 created, 0 updated, 1 unchanged, 0 skipped, 1 pruned",
    ]
    dropped = Schedule.objects.get(name="dropped")
    assert (dropped.enabled, dropped.source_path) == (False, PRUNED)
    assert Schedule.objects.get(name="admin-made").enabled is True  # other doors' schedules are never pruned
    assert run("--prune")[-1] == "0 created, 0 updated, 1 unchanged, 0 skipped"

    beat_schedule["dropped"] = {"task": "host.who", "schedule": 120}
    assert run()[1] == (f"dropped: updated (enabled: False -> True; source_path: {PRUNED!r} -> 'beat_schedule')")
    assert Schedule.objects.get(name="dropped").enabled is True


def test_a_dry_run_writes_nothing(beat_schedule: dict[str, Any]) -> None:
    beat_schedule["new"] = {"task": "host.who", "schedule": 60}
    assert run("--dry-run") == [
        "new: would be created",
        "dry run, nothing written: would be 1 created, 0 updated, 0 unchanged, 0 skipped",
    ]
    assert not Schedule.objects.exists()


def test_a_beat_syncs_beat_schedule_when_it_starts_and_a_bad_entry_does_not_stop_it(
    beat_schedule: dict[str, Any], redis_db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    beat_schedule["from-code"] = {"task": "host.who", "schedule": crontab(minute=0)}
    beat_schedule["broken"] = {"task": "host.who", "schedule": "whenever"}
    scheduler = Scheduler(app=celery_app(), lazy=True)
    with caplog.at_level(logging.INFO, logger="scheduling.surfaces.imports.beat_schedule"):
        scheduler.setup_schedule()
    try:
        assert Schedule.objects.get(name="from-code").cron == "0 * * * *"
        messages = [record.getMessage() for record in caplog.records]
        assert "beat_schedule entry from-code: created" in messages
        assert any(m.startswith("beat_schedule entry broken: skipped: schedule 'whenever' is a str") for m in messages)
        assert "beat_schedule synced: 1 created, 0 updated, 0 unchanged, 1 skipped" in messages
    finally:
        scheduler.close()


def test_a_beat_whose_sync_fails_starts_all_the_same(
    beat_schedule: dict[str, Any], redis_db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    celery_app().conf.beat_schedule = 42  # not even a dict
    scheduler = Scheduler(app=celery_app(), lazy=True)
    with caplog.at_level(logging.ERROR, logger="orchestrator.hooks"):
        scheduler.setup_schedule()
    try:
        assert scheduler._dispatcher is not None
        assert any("beat_started hook" in record.getMessage() for record in caplog.records)
    finally:
        scheduler.close()


def test_the_api_filters_schedules_by_the_new_sources(beat_schedule: dict[str, Any]) -> None:
    beat_schedule["from-code"] = {"task": "host.who", "schedule": 60}
    run()
    factories.schedule("noop", name="by-hand")
    client = APIClient()
    client.force_login(User.objects.create_superuser("root", password="pw-" + uuid.uuid4().hex))
    found = client.get("/api/schedules/", {"source": "code"}).json()
    assert [row["name"] for row in found["results"]] == ["from-code"]
    assert client.get("/api/schedules/", {"source": "celery_beat"}).json()["count"] == 0


def test_since_runs_each_schedule_from_its_first_fire_time_after_the_old_beat_stopped(
    beat_schedule: dict[str, Any],
) -> None:
    beat_schedule["quarter-hourly"] = {"task": "host.add", "schedule": crontab(minute="*/15"), "args": (1, 2)}
    assert run("--since", "2027-01-04T09:20:00Z")[0] == "quarter-hourly: created"
    made = Schedule.objects.get(name="quarter-hourly")
    assert made.last_run_at is not None and made.last_run_at.isoformat() == "2027-01-04T09:20:00+00:00"
    assert made.next_run_at is not None and made.next_run_at.isoformat() == "2027-01-04T09:30:00+00:00"
    with pytest.raises(Exception, match="needs an offset"):
        run("--since", "2027-01-04T09:20:00")


def test_since_in_the_past_leaves_what_fell_due_after_it_due(beat_schedule: dict[str, Any]) -> None:
    """The old beat stopped minutes before the sync: its first fire time after then has passed, and stays
    the next run (our beat takes it up under the misfire policy) rather than the first one after now."""
    stopped = (datetime.now(UTC) - timedelta(minutes=3)).replace(second=30, microsecond=0)
    beat_schedule["minutely"] = {"task": "host.add", "schedule": crontab(), "args": (1, 2)}
    assert run("--since", stopped.isoformat())[0] == "minutely: created"
    made = Schedule.objects.get(name="minutely")
    assert (made.last_run_at, made.next_run_at) == (stopped, stopped + timedelta(seconds=30))
