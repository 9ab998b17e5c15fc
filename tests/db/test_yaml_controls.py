"""YAML sync and the controls: calendars defined in a file (synced before the schedules that name them),
``paused: {note, until}`` on an entry, and the control fields."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduling.models import Calendar, Schedule
from scheduling.surfaces import pausing
from scheduling.surfaces.yaml_sync import SyncError, sync
from tests import factories

pytestmark = pytest.mark.django_db

CALENDARS = """
calendars:
  - name: berlin-holidays
    timezone: Europe/Berlin
    dates: [2026-12-25, "2026-12-26"]
    crons: ["* * * * 6,0"]
schedules:
  - id: nightly
    job: noop
    cron: "0 2 * * *"
    calendars: [berlin-holidays]
    remaining_runs: 10
    pause_after_failures: 3
    deadline_seconds: 900
"""


def _write(folder: Path, text: str, name: str = "s.yaml") -> Path:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text))
    return folder


def test_a_file_defines_calendars_and_its_schedules_name_them(tmp_path):
    folder = _write(tmp_path / "sync", CALENDARS)
    report = sync(folder)
    calendar = Calendar.objects.get(name="berlin-holidays")
    assert calendar.dates == ["2026-12-25", "2026-12-26"] and calendar.crons == ["* * * * 6,0"]
    assert calendar.timezone == "Europe/Berlin"
    nightly = Schedule.objects.get(name="nightly")
    assert [c.name for c in nightly.calendars.all()] == ["berlin-holidays"]
    assert (nightly.remaining_runs, nightly.pause_after_failures, nightly.deadline_seconds) == (10, 3, 900)
    assert report.count("create") == 2
    assert not sync(folder).changed, "a second sync changes nothing"

    _write(folder, CALENDARS.replace('"2026-12-26"', '"2026-12-31"').replace("    calendars: [berlin-holidays]\n", ""))
    report = sync(folder)
    assert Calendar.objects.get(name="berlin-holidays").dates == ["2026-12-25", "2026-12-31"]
    assert list(Schedule.objects.get(name="nightly").calendars.all()) == [], "left out: none"
    changed = {change.name: change.fields for change in report.changes if change.action == "update"}
    assert ("calendars", ["berlin-holidays"], []) in changed["nightly"]


def test_bad_calendars_are_refused_naming_file_entry_and_field(tmp_path):
    folder = _write(tmp_path / "bad", CALENDARS.replace("2026-12-25", '"2026-13-01"').replace("6,0", "8"))
    with pytest.raises(SyncError) as refused:
        sync(folder)
    fields = {problem.field for problem in refused.value.problems}
    assert fields == {"dates", "crons"}, refused.value
    assert "dates[0]" in str(refused.value) and "entry 1 (berlin-holidays)" in str(refused.value)
    assert not Calendar.objects.exists() and not Schedule.objects.exists()

    folder = _write(tmp_path / "unknown", CALENDARS.replace("calendars: [berlin-holidays]", "calendars: [nope]"))
    with pytest.raises(SyncError) as refused:
        sync(folder)
    [problem] = refused.value.problems
    assert problem.field == "calendars" and problem.message.startswith("unknown calendar 'nope'")
    assert not Calendar.objects.exists(), "nothing is applied"

    folder = _write(tmp_path / "key", "calendars:\n  - name: x\n    days: [2026-01-01]\nextra: 1\n")
    with pytest.raises(SyncError) as refused:
        sync(folder)
    assert {p.field for p in refused.value.problems} == {"days", "extra"}


PAUSED = """
- id: reports
  job: noop
  interval_seconds: 600
  paused:
    note: waiting for the new warehouse
    until: 2099-01-01T08:00:00Z
"""


def test_an_entry_pauses_its_schedule_and_taking_it_out_resumes(tmp_path):
    folder = _write(tmp_path / "p", PAUSED)
    report = sync(folder)
    schedule = Schedule.objects.get(name="reports")
    assert schedule.paused and schedule.pause_note == "waiting for the new warehouse"
    assert schedule.paused_by == pausing.yaml_actor(schedule.source_path)
    assert schedule.resume_at == datetime(2099, 1, 1, 8, tzinfo=UTC)
    assert report.changes[0].fields == (("paused", "", "waiting for the new warehouse (until 2099-01-01 08:00 UTC)"),)
    assert not sync(folder).changed

    _write(folder, PAUSED.replace("waiting for the new warehouse", "still waiting"))
    sync(folder)
    assert Schedule.objects.get(name="reports").pause_note == "still waiting"

    _write(folder, PAUSED.split("  paused:")[0])
    sync(folder)
    schedule.refresh_from_db()
    assert schedule.enabled and not schedule.paused and schedule.pause_note == ""


def test_a_yaml_pause_records_the_schedule_paused_event(tmp_path, settings):
    import json

    settings.EVENTS_PATH = tmp_path / "events.jsonl"
    folder = _write(tmp_path / "p", PAUSED)
    sync(folder)
    schedule = Schedule.objects.get(name="reports")
    logged = [json.loads(line) for line in settings.EVENTS_PATH.read_text().splitlines()]
    [paused] = [event for event in logged if event["event"] == "schedule_paused"]
    assert paused["schedule"] == "reports" and paused["schedule_id"] == schedule.pk
    assert paused["by"] == pausing.yaml_actor(schedule.source_path) and paused["by"].startswith("yaml:")
    assert paused["note"] == "waiting for the new warehouse" and paused["resume_at"] == "2099-01-01T08:00:00.000Z"
    sync(folder)
    again = [json.loads(line) for line in settings.EVENTS_PATH.read_text().splitlines()]
    assert [e["event"] for e in again].count("schedule_paused") == 1, "an unchanged file pauses nothing again"


def test_a_sync_never_undoes_someone_elses_pause(tmp_path):
    folder = _write(tmp_path / "o", PAUSED.split("  paused:")[0])
    sync(folder)
    schedule = Schedule.objects.get(name="reports")
    pausing.pause([schedule.pk], note="incident 42", by="alice")
    assert not sync(folder).changed
    schedule.refresh_from_db()
    assert schedule.paused and schedule.paused_by == "alice", "the admin's pause stays"
    _write(folder, PAUSED)
    sync(folder)
    schedule.refresh_from_db()
    assert schedule.paused_by == "alice" and schedule.pause_note == "incident 42"


def test_a_dry_run_reports_a_pause_without_pausing(tmp_path):
    factories.schedule(name="unused")
    folder = _write(tmp_path / "d", PAUSED)
    report = sync(folder, dry_run=True)
    assert report.count("create") == 1 and not Schedule.objects.filter(name="reports").exists()


def test_a_bad_pause_is_refused_naming_the_field(tmp_path):
    cases = {
        "paused: yes": "paused",
        "paused: {until: 2099-01-01T00:00:00Z}": "paused.note",
        "paused: {note: x, until: someday}": "paused.until",
        "paused: {note: x, by: me}": "paused",
    }
    for index, (line, field) in enumerate(cases.items()):
        folder = _write(tmp_path / f"b{index}", f"- id: r{index}\n  job: noop\n  interval_seconds: 60\n  {line}\n")
        with pytest.raises(SyncError) as refused:
            sync(folder)
        assert [p.field for p in refused.value.problems] == [field], (line, str(refused.value))
    assert not Schedule.objects.exists()


def test_an_until_that_has_passed_does_not_pause_again(tmp_path):
    folder = _write(tmp_path / "past", PAUSED.replace("2099-01-01T08:00:00Z", "2020-01-01T00:00:00Z"))
    sync(folder)
    assert Schedule.objects.get(name="reports").enabled


def test_the_shipped_controls_example_syncs(tmp_path):
    from tests.processes import ROOT

    folder = tmp_path / "example"
    folder.mkdir()
    (folder / "controls.yaml").write_text((ROOT / "configs" / "schedules" / "controls.yaml.example").read_text())
    report = sync(folder)
    assert report.count("create") == 6
    ended = datetime.now(UTC) >= datetime(2027, 1, 4, 8, tzinfo=UTC)  # the example's until
    assert Schedule.objects.get(name="warehouse-export").paused is not ended
    assert Schedule.objects.get(name="office-report").calendars.count() == 2
