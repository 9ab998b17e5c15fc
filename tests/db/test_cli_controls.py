"""Schedule controls at the command line: ``manage.py schedules`` shows every control and
``schedules set`` sets them, through the validation every door shares, with errors naming the
option and entries in the audit trail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from orchestrator import audit
from scheduling.models import Calendar, Schedule, ScheduledRun
from scheduling.surfaces import overview
from tests import factories
from tests.records import staff_user

pytestmark = pytest.mark.django_db

PAST = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _call(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _controlled(name: str = "guarded") -> Schedule:
    holidays = Calendar.objects.create(name="holidays", dates=["2026-12-25"])
    weekends = Calendar.objects.create(name="weekends", crons=["* * * * 6,0"])
    schedule = factories.schedule(
        name=name, kind="cron", cron="0 9 * * *", remaining_runs=4, pause_after_failures=3, deadline_seconds=300
    )
    schedule.calendars.set([weekends, holidays])
    Schedule.objects.filter(pk=schedule.pk).update(failure_streak=2)
    for day, overdue in ((0, True), (1, True), (2, False)):
        at = PAST + timedelta(days=day)
        late = at + timedelta(hours=1) if overdue else None
        ScheduledRun.objects.create(schedule=schedule, scheduled_for=at, status="dispatched", overdue_at=late)
    return schedule


def test_schedules_table_and_json_show_every_control():
    guarded = _controlled()
    factories.schedule(name="plain")
    lines = _call("schedules").splitlines()
    header = lines[0].split()
    assert header[-5:] == ["FAILURES", "DEADLINE", "CALENDARS", "OVERDUE", "PAUSED"]
    line = next(line for line in lines if line.startswith("guarded"))
    # runs left, failures (streak of the limit), deadline, calendars, overdue, paused
    assert line.split()[-8:] == ["4", "2", "of", "3", "300s", "holidays,weekends", "2", "-"]
    plain = next(line for line in lines if line.startswith("plain"))
    assert plain.split()[-6:] == ["-", "0", "-", "-", "0", "-"]
    rows = {row["name"]: row for row in json.loads(_call("schedules", "--json"))}
    assert {key: rows["guarded"][key] for key in ("remaining_runs", "failure_streak", "pause_after_failures")} == {
        "remaining_runs": 4,
        "failure_streak": 2,
        "pause_after_failures": 3,
    }
    assert rows["guarded"]["deadline_seconds"] == 300 and rows["guarded"]["calendars"] == ["holidays", "weekends"]
    assert rows["guarded"]["overdue"] == 2 == overview.counts(guarded)["overdue"], "the API's and the pages' count"
    assert (
        rows["plain"]["calendars"] == [] and rows["plain"]["overdue"] == 0 and rows["plain"]["deadline_seconds"] is None
    )


def test_schedules_json_costs_the_same_queries_for_one_schedule_or_many():
    def measured() -> int:
        with CaptureQueriesContext(connection) as queries:
            _call("schedules", "--json")
        return len(queries)

    _controlled("first")
    one = measured()
    calendar = Calendar.objects.get(name="holidays")
    for index in range(5):
        schedule = factories.schedule(name=f"more-{index}", deadline_seconds=60)
        schedule.calendars.set([calendar])
        ScheduledRun.objects.create(schedule=schedule, scheduled_for=PAST, status="dispatched", overdue_at=PAST)
    assert measured() == one


def test_schedules_set_validates_saves_and_records_the_controls_as_cli():
    schedule = factories.schedule(name="target", kind="cron", cron="0 9 * * *")
    Calendar.objects.create(name="holidays", dates=["2026-12-25"])
    Calendar.objects.create(name="weekends", crons=["* * * * 6,0"])
    out = _call(
        "schedules", "set", "target", "--remaining-runs", "3", "--pause-after-failures", "5",
        "--deadline-seconds", "600", "--calendars", "weekends,holidays",
    )  # fmt: skip
    assert out.strip() == (
        "target: remaining_runs none -> 3; pause_after_failures none -> 5; deadline_seconds none -> 600; "
        "calendars none -> holidays,weekends"
    )
    schedule.refresh_from_db()
    assert (schedule.remaining_runs, schedule.pause_after_failures, schedule.deadline_seconds) == (3, 5, 600)
    assert sorted(c.name for c in schedule.calendars.all()) == ["holidays", "weekends"]
    entries = list(audit.entries_for(schedule).filter(door=audit.CLI))
    assert entries and all(entry.actor == "cli" for entry in entries)
    fields = {name: change for entry in entries for name, change in entry.changes.items()}
    assert fields["remaining_runs"] == {"before": None, "after": 3}
    assert fields["deadline_seconds"] == {"before": None, "after": 600}
    assert "calendars" in fields

    out = _call(
        "schedules", "set", "target", "--remaining-runs", "none", "--pause-after-failures", "0",
        "--deadline-seconds", "NONE", "--calendars", "none",
    )  # fmt: skip
    schedule.refresh_from_db()
    assert (schedule.remaining_runs, schedule.pause_after_failures, schedule.deadline_seconds) == (None, None, None)
    assert list(schedule.calendars.all()) == []
    assert _call("schedules", "set", "target", "--calendars", "none").strip() == "target: nothing changed"


def test_schedules_set_refuses_bad_values_naming_the_option_in_the_words_of_the_api():
    schedule = factories.schedule(name="target", remaining_runs=7)
    api = APIClient()
    api.force_authenticate(staff_user("api", "scheduling.change_schedule", "scheduling.view_schedule"))
    said = api.patch(f"/api/schedules/{schedule.pk}/", {"remaining_runs": -1, "deadline_seconds": 0}, format="json")
    assert said.status_code == 400
    with pytest.raises(CommandError) as refused:
        _call(
            "schedules", "set", "target", "--remaining-runs", "-1", "--deadline-seconds", "0",
            "--calendars", "nope", "--pause-after-failures", "x",
        )  # fmt: skip
    text = str(refused.value)
    assert f"--remaining-runs: {said.json()['remaining_runs'][0]}" in text
    assert f"--deadline-seconds: {said.json()['deadline_seconds'][0]}" in text
    assert "--calendars: unknown calendar 'nope'" in text and "--pause-after-failures: must be a whole number" in text
    schedule.refresh_from_db()
    assert schedule.remaining_runs == 7 and schedule.deadline_seconds is None, "nothing saved"
    with pytest.raises(CommandError, match="give at least one of --remaining-runs"):
        _call("schedules", "set", "target")
    with pytest.raises(CommandError, match="no schedule named 'missing'"):
        _call("schedules", "set", "missing", "--remaining-runs", "1")
