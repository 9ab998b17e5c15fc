"""The same schedule input gets the same answer at every door: the admin, the schedules page, the API, YAML.

Each case is sent through all four (``tests.doors``); every door must refuse it on the same field
with the same message (YAML keeps its file, line and entry in front, which ``tests.doors`` takes
off), or accept it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.models import Job
from scheduling.models import Schedule
from tests.doors import DOORS, submit

pytestmark = pytest.mark.django_db

#: (what, input, field, message): refused at every door with exactly this message on this field.
REFUSED = [
    ("a naive run_at in a DST gap of the schedule's zone",
     {"job": "noop", "run_at": "2030-03-31T02:30:00", "timezone": "Europe/Berlin"},
     "run_at", "2030-03-31 02:30:00 does not exist in Europe/Berlin (the clocks go forward then); pick a time "
     "outside the gap"),
    ("cron and interval_seconds together",
     {"job": "noop", "cron": "0 * * * *", "interval_seconds": 60},
     "kind", "is ambiguous: cron and interval_seconds are both given; set kind"),
    ("a field of another kind",
     {"job": "noop", "kind": "cron", "cron": "0 * * * *", "interval_seconds": 60},
     "interval_seconds", "does not apply to a cron schedule; leave it empty or set kind"),
    ("no timing at all", {"job": "noop"},
     "kind", "is required: give cron, interval_seconds or run_at (or kind with its field)"),
    ("a negative interval", {"job": "noop", "interval_seconds": -5},
     "interval_seconds", "must be a positive number of seconds, not -5"),
    ("a zero interval", {"job": "noop", "interval_seconds": 0},
     "interval_seconds", "must be a positive number of seconds, not 0"),
    ("an interval that is not a number", {"job": "noop", "interval_seconds": "often"},
     "interval_seconds", "must be a whole number, not 'often'"),
    ("a one-off in the past", {"job": "noop", "run_at": "2020-01-01T00:00:00+00:00"},
     "run_at", "is in the past (2020-01-01T00:00:00+00:00): a one-off runs once, at a future time"),
    ("an unknown job", {"job": "no_such_job", "interval_seconds": 60},
     "job", "unknown job 'no_such_job'; jobs in this deployment: {known}"),
    ("an unknown overlap policy", {"job": "noop", "interval_seconds": 60, "overlap_policy": "sometimes"},
     "overlap_policy", "must be one of skip, allow, buffer_one, buffer_all, replace, not 'sometimes'"),
    ("a limit of zero", {"job": "noop", "interval_seconds": 60, "max_concurrency": 0},
     "max_concurrency", "must be at least 1, or empty for no limit"),
    ("no misfire grace", {"job": "noop", "interval_seconds": 60, "misfire_grace_seconds": 0},
     "misfire_grace_seconds", "must be at least 1 second: a beat dispatches a moment after an occurrence's due "
     "time, so with no grace every occurrence would be missed"),
    ("a built-in job's param of the wrong kind", {"job": "sleep", "interval_seconds": 60, "params": {"seconds": "ten"}},
     "params", "seconds: must be a number, not 'ten'"),
    ("a param the job does not take", {"job": "sleep", "interval_seconds": 60, "params": {"secs": 3}},
     "params", "secs: is not a param of the sleep job; its params: seconds"),
    ("a job that takes no params", {"job": "noop", "interval_seconds": 60, "params": {"x": 1}},
     "params", "x: is not a param of the noop job; its params: none"),
]  # fmt: skip


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize(("what", "values", "field", "message"), REFUSED, ids=[case[0] for case in REFUSED])
def test_the_same_bad_input_gets_the_same_message_at_every_door(door, what, values, field, message, tmp_path):
    errors = submit(door, dict(values), tmp=tmp_path)
    known = ", ".join(Job.objects.order_by("key").values_list("key", flat=True))  # this process's jobs
    assert errors.get(field) == [message.replace("{known}", known)], errors
    assert not Schedule.objects.exists(), "nothing is written"


#: (what, input): accepted at every door.
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("a one-off given by run_at alone (the kind inferred)", {"job": "noop", "run_at": "2031-01-01T00:00:00+00:00"}),
    ("an interval given by interval_seconds alone", {"job": "noop", "interval_seconds": 300}),
    ("declared params of the right kinds", {"job": "sleep", "interval_seconds": 60, "params": {"seconds": 0.5}}),
    ("no params for a job that takes none", {"job": "noop", "interval_seconds": 60}),
]


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize(("what", "values"), ACCEPTED, ids=[case[0] for case in ACCEPTED])
def test_good_input_is_saved_at_every_door(door, what, values, tmp_path):
    assert submit(door, dict(values), tmp=tmp_path) == {}
    assert Schedule.objects.count() == 1


@pytest.mark.parametrize("door", DOORS)
def test_a_naive_run_at_is_a_wall_time_in_the_schedules_zone_at_every_door(door, tmp_path):
    """The API once read it as UTC (stored as 04:30 CEST) while the form read it in the schedule's zone."""
    values = {"job": "noop", "run_at": "2030-06-01T09:30:00", "timezone": "Europe/Berlin"}
    assert submit(door, values, tmp=tmp_path) == {}
    assert Schedule.objects.get().run_at == datetime(2030, 6, 1, 7, 30, tzinfo=UTC)  # 09:30 CEST
