"""The same schedule input gets the same answer at every door: the admin, the schedules page, the API, YAML.

Each case is sent through all four (``tests.doors``); every door must refuse it on the same field
with the same message (YAML keeps its file, line and entry in front, which ``tests.doors`` takes
off), or accept it.
"""

from __future__ import annotations

from typing import Any

import pytest

from scheduling.models import Schedule
from tests.doors import DOORS, submit

pytestmark = pytest.mark.django_db

#: (what, input, field, message): refused at every door with exactly this message on this field.
REFUSED = [
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
    assert errors.get(field) == [message], errors
    assert not Schedule.objects.exists(), "nothing is written"


#: (what, input): accepted at every door.
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("declared params of the right kinds", {"job": "sleep", "interval_seconds": 60, "params": {"seconds": 0.5}}),
    ("no params for a job that takes none", {"job": "noop", "interval_seconds": 60}),
]


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize(("what", "values"), ACCEPTED, ids=[case[0] for case in ACCEPTED])
def test_good_input_is_saved_at_every_door(door, what, values, tmp_path):
    assert submit(door, dict(values), tmp=tmp_path) == {}
    assert Schedule.objects.count() == 1
