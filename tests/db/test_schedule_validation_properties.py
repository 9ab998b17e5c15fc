"""Property tests for schedule validation: random values in every field of the schedule form (the
admin's and the schedules page's) either save or are refused with errors keyed by the field; never
an exception, never a 500 from the page.
"""

from __future__ import annotations

import string
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import example, given, settings
from hypothesis import strategies as st

from orchestrator.models import Job
from scheduling.models import Schedule
from scheduling.surfaces.forms import ScheduleForm
from tests import factories

junk = st.text(max_size=40)  # NUL, control characters, any script
numbers = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12).map(str), st.sampled_from(["", "1e9", "0x10", "½"])
)
datetimes = st.one_of(
    st.just(""),
    st.datetimes().map(lambda moment: moment.isoformat(sep=" ")),
    st.sampled_from(["2026-03-29 02:30:00", "2026-10-25 02:30", "9999-12-31 23:59:59", "0001-01-01 00:00", "24:00"]),
    junk,
)


def _values(job_pk: int) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {
        "name": st.one_of(st.text(alphabet=string.ascii_letters + "-_ ", min_size=1, max_size=20), junk),
        "description": junk,
        "job": st.one_of(st.just(str(job_pk)), numbers, junk),
        "directive": st.one_of(st.just(""), numbers),
        "params": st.one_of(
            st.sampled_from(["{}", '{"a": 1}', "[]", "null", '{"a": "\\u0000"}', '{"a": ' * 50, "1e999"]), junk
        ),
        "kind": st.one_of(st.sampled_from(["cron", "interval", "once"]), junk),
        "cron": st.one_of(st.sampled_from(["*/5 * * * *", "0 2 * * *", "@daily", "0 0 30 2 *", "61 * * * *"]), junk),
        "interval_seconds": numbers,
        "run_at": datetimes,
        "timezone": st.one_of(st.sampled_from(["UTC", "Europe/Berlin", "Australia/Lord_Howe", "europe/berlin"]), junk),
        "start_at": datetimes,
        "end_at": datetimes,
        "overlap_policy": st.one_of(st.sampled_from(["skip", "queue", "allow", "replace"]), junk),
        "misfire_policy": st.one_of(st.sampled_from(["run_once", "skip", "run_all"]), junk),
        "misfire_grace_seconds": numbers,
        "max_concurrency": numbers,
        "jitter_seconds": numbers,
        "tenant": junk,
        "enabled": st.sampled_from(["on", "", "yes", "false"]),
    }
    return st.fixed_dictionaries({}, optional=fields)


@pytest.mark.django_db
@given(data=st.data())
@example(data=None)
def test_random_form_values_save_or_name_the_field(data):
    job = Job.objects.get(key="noop")
    values = data.draw(_values(job.pk)) if data is not None else {"params": '{"a": "\\u0000"}'}
    form = ScheduleForm(data=values)
    if form.is_valid():
        schedule = form.save()
        assert Schedule.objects.filter(pk=schedule.pk).exists()
        return
    assert form.errors
    unknown = set(form.errors) - set(form.fields)
    assert not unknown, (unknown, form.errors.as_data(), values)
    assert all(messages for messages in form.errors.values())


@pytest.mark.django_db
@settings(max_examples=25)
@given(data=st.data())
def test_random_posts_to_the_schedules_page_are_never_a_server_error(data):
    job = Job.objects.get(key="noop")
    user = User.objects.filter(username="fuzz-ops").first() or User.objects.create_superuser("fuzz-ops", password="pw")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    schedule = Schedule.objects.first() or factories.schedule("noop", name="fuzz-edit")
    values = data.draw(_values(job.pk))
    for url in ("/schedules/new/", f"/schedules/{schedule.pk}/edit/", "/schedules/preview/"):
        response = client.post(url, values)
        assert response.status_code < 500, (url, response.status_code, values)
        if response.status_code == 200 and url != "/schedules/preview/" and values:  # empty: the blank form
            assert b"Please correct the errors below." in response.content, "a form shown again says what is wrong"
