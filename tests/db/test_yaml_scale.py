"""YAML sync at scale on PostgreSQL: its statements do not grow with the entries, and the shared
validation and batched writes leave exactly what ``full_clean`` and ``Schedule.save`` one by one do.
(Its speed is measured in ``bench/``: ``--only yaml-sync``.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from scheduling.models import Schedule
from scheduling.surfaces import bulk
from scheduling.surfaces.yaml_sync import sync
from tests import factories

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 20, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=3, hours=5)


def _entries(folder: Path, prefix: str, count: int, *, variant: int = 0) -> Path:
    """``count`` entries of every kind: cron in a zone, interval, jittered interval, one-off, a job with params."""
    lines = []
    for index in range(count):
        name = f"- id: {prefix}{index}\n"
        kind = index % 5
        if kind == 0:
            lines.append(f'{name}  job: noop\n  cron: "{index % 60} {variant + 2} * * *"\n  timezone: Europe/Berlin\n')
        elif kind == 1:
            lines.append(f"{name}  job: noop\n  interval_seconds: {60 + index + variant}\n")
        elif kind == 2:
            lines.append(f"{name}  job: noop\n  interval_seconds: 3600\n  jitter_seconds: {30 + variant}\n")
        elif kind == 3:
            lines.append(f"{name}  job: noop\n  run_at: 2026-06-{1 + index % 28:02d}T0{variant}:00:00+02:00\n")
        else:
            lines.append(f'{name}  job: sleep\n  params: {{seconds: {1 + variant}}}\n  cron: "*/5 * * * *"\n')
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{prefix}.yaml"
    path.write_text("".join(lines))
    return path


def _statements(path: Path, **options: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        sync(path, now=NOW, **options)
    return len(captured)


def test_a_sync_runs_as_many_statements_for_300_entries_as_for_30(tmp_path: Path):
    small, large = _entries(tmp_path / "small", "s", 30), _entries(tmp_path / "large", "l", 300)
    for options in ({"dry_run": True}, {}, {"prune": True}):  # a dry run, the first sync (creates), unchanged
        assert _statements(small, **options) == _statements(large, **options), options
    _entries(tmp_path / "small", "s", 30, variant=1)  # every entry changes (timing, params, jitter)
    _entries(tmp_path / "large", "l", 300, variant=1)
    assert _statements(small) == _statements(large)
    assert Schedule.objects.filter(name__startswith="l").count() == 300
    assert Schedule.objects.get(name="l2").jitter_seconds == 31 and Schedule.objects.get(name="l4").params == {
        "seconds": 2
    }


# --- the shared full_clean gives Django's errors ---------------------------------------------------

AT = datetime(2026, 1, 1, tzinfo=UTC)
fields = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["cron", "interval", "once", "weekly"]),
        "cron": st.sampled_from(["", "*/5 * * * *", "61 * * * *"]),
        "interval_seconds": st.sampled_from([None, -5, 0, 1, 3600, "often"]),
        "run_at": st.sampled_from([None, AT, AT + timedelta(days=1)]),
        "start_at": st.sampled_from([None, AT, AT + timedelta(days=1)]),
        "end_at": st.sampled_from([None, AT, AT + timedelta(days=1)]),
        "timezone": st.sampled_from(["UTC", "Europe/Berlin", "Mars/Olympus", ""]),
        "max_concurrency": st.sampled_from([None, -1, 0, 2]),
        "misfire_grace_seconds": st.sampled_from([0, 1, 3600]),
        "jitter_seconds": st.sampled_from([0, 5]),
        "overlap_policy": st.sampled_from(["skip", "sometimes"]),
        "params": st.sampled_from([{}, [1, 2], {"seconds": 1}]),
        "name": st.sampled_from(["ok", ""]),
    }
)


def _errors(check: Any, values: dict[str, Any]) -> dict[str, list[str]] | None:
    schedule = Schedule(job=factories.job("noop"), **values)
    try:
        check(schedule)
    except ValidationError as exc:
        return exc.message_dict
    return None


@given(values=fields)
def test_the_shared_full_clean_reports_what_django_reports(values: dict[str, Any]):
    ours = _errors(lambda s: bulk.full_clean(s, existing_references=("job", "directive")), values)
    assert ours == _errors(lambda s: s.full_clean(validate_unique=False), values)


@given(values=fields.filter(lambda values: values["interval_seconds"] != "often"))  # the database's types
def test_a_constraint_proven_in_python_holds_in_the_database(values: dict[str, Any]):
    # without clean(): the constraints see values no door would let through (kind=interval with 0 seconds)
    schedule = Schedule(job=factories.job("noop"), **values)
    for constraint in Schedule._meta.constraints:
        if bulk._proven(constraint.condition, schedule, set()):  # type: ignore[attr-defined]
            constraint.validate(Schedule, schedule)  # type: ignore[attr-defined]


# --- save_all writes what save() writes -----------------------------------------------------------

SPECS: list[dict[str, Any]] = [
    {"kind": "cron", "cron": "30 2 * * *", "timezone": "Europe/Berlin"},
    {"kind": "cron", "cron": "*/5 * * * *", "enabled": False},
    {"kind": "interval", "interval_seconds": 90, "start_at": AT},
    {"kind": "interval", "interval_seconds": 3600, "end_at": NOW + timedelta(hours=2)},
    {"kind": "once", "run_at": NOW + timedelta(days=2)},
    {"kind": "once", "run_at": NOW - timedelta(days=2)},  # finished at once: no next run
]
EDITS: list[dict[str, Any]] = [
    {"cron": "45 2 * * *"},  # timing: recomputed
    {"description": "only words", "enabled": True},  # not timing: the beat's cursor stays
    {"interval_seconds": 120},
    {"tenant": "t"},
    {"run_at": NOW + timedelta(days=5)},
    {"enabled": False},
]
COMPARED = [f.name for f in Schedule._meta.concrete_fields if f.name not in ("id", "name", "created_at", "updated_at")]


def _rows(prefix: str) -> list[dict[str, Any]]:
    return [
        {name: getattr(row, name) for name in COMPARED}
        for row in Schedule.objects.filter(name__startswith=prefix).order_by("name")
    ]


def test_save_all_leaves_the_rows_saving_one_by_one_leaves():
    noop = factories.job("noop")
    for prefix in ("one", "all"):
        schedules = [Schedule(name=f"{prefix}-{i}", job=noop, **spec) for i, spec in enumerate(SPECS)]
        if prefix == "one":
            for schedule in schedules:
                schedule.save(now=NOW)
        else:
            bulk.save_all(schedules, now=NOW)
    assert _rows("one") == _rows("all")

    # the beat moves the cursors on; then an edit of each, timing or not, and a finished one re-enabled
    Schedule.objects.update(next_run_at=NOW + timedelta(days=1), due_at=NOW + timedelta(days=1), last_run_at=NOW)
    Schedule.objects.filter(name__endswith="-5").update(enabled=False, next_run_at=None, due_at=None)
    for prefix in ("one", "all"):
        stored = list(Schedule.objects.filter(name__startswith=prefix).order_by("name"))
        for schedule, edit in zip(stored, EDITS, strict=True):
            for name, value in edit.items():
                setattr(schedule, name, value)
        stored[5].enabled = True
        if prefix == "one":
            for schedule in stored:
                schedule.save(now=LATER)
        else:
            bulk.save_all(stored, now=LATER)
    assert _rows("one") == _rows("all")
    assert {row["next_run_at"] for row in _rows("all")} > {NOW + timedelta(days=1)}, "some kept, some recomputed"


def test_a_jittered_schedule_is_seeded_by_the_key_its_insert_gave_it():
    noop = factories.job("noop")
    schedules = [
        Schedule(name=f"jitter-{i}", job=noop, kind="interval", interval_seconds=3600, jitter_seconds=600)
        for i in range(20)
    ]
    bulk.save_all(schedules, now=NOW)
    offsets = set()
    for stored in Schedule.objects.filter(name__startswith="jitter-"):
        written = stored.due_at
        stored.reschedule(NOW)  # seeded by stored.pk
        assert stored.due_at == written
        offsets.add(written - stored.next_run_at)
    assert len(offsets) > 10, "each schedule its own offset"


def test_save_all_validates_unless_told_the_schedules_were_cleaned():
    bad = Schedule(name="bad", job=factories.job("noop"), kind="interval", interval_seconds=0)
    with pytest.raises(ValidationError, match="interval_seconds"):
        bulk.save_all([bad], now=NOW)
    assert not Schedule.objects.filter(name="bad").exists()


def test_save_all_refuses_a_value_too_long_for_its_column_as_save_does():
    bulk.save_all([Schedule(name="short", job=factories.job("noop"), **SPECS[0])], now=NOW)
    stored = Schedule.objects.get(name="short")
    stored.name = "x" * 201  # past max_length; cleaned=True skips the validation that would say so
    with pytest.raises(DataError, match="too long"), transaction.atomic():
        bulk.save_all([stored], now=NOW, cleaned=True)
    assert Schedule.objects.filter(name="short").exists()
