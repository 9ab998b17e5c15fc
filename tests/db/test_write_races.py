"""Two writes to one schedule at once, at every door: a 4xx naming the field, never a 500, nothing half-written.

The race is made deterministic with a held transaction instead of luck: a second connection deletes
the schedule (or creates one with the name) and does not commit; the door's request runs in a
thread until PostgreSQL makes it wait for that row (``pg_stat_activity`` says so); then the other
transaction commits, and the door must answer what it found. Before the fix, a PATCH racing a
DELETE failed with "Save with update_fields did not affect any rows" and two creates of one name
with an ``IntegrityError``: both 500s.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.db import connection, connections, transaction
from django.test import Client

from orchestrator import constraints
from scheduling.models import Schedule, ScheduledRun
from scheduling.surfaces import yaml_sync
from tests import factories
from tests.doors import form_data
from tests.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

TAKEN = constraints.unique_message(Schedule, ["name"])


class InThread:
    """Runs ``work`` in a thread with its own database connection; keeps its result or its error."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            self.result = work()
        except BaseException as exc:  # handed to the test, which reports it
            self.error = exc
        finally:
            connections.close_all()  # this thread's connections only

    def join(self) -> Any:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the request did not finish"
        return self.result


@contextmanager
def held(write: Callable[[], Any]) -> Iterator[Callable[[], None]]:
    """``write`` done in another connection's open transaction; yields ``commit`` to end it."""
    written, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            write()
            written.set()
            release.wait(timeout=60)

    holder = InThread(hold)
    assert written.wait(timeout=30), holder.error
    try:
        yield release.set
    finally:
        release.set()
        holder.join()
        assert holder.error is None, holder.error


def waiting_for_a_lock() -> bool:
    """Whether some other connection to this database waits for a row or a key held by another."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return bool(cursor.fetchone()[0])


def race(other: Callable[[], Any], door: Callable[[], Any]) -> Any:
    """``door`` while ``other`` holds its write; ``other`` commits once ``door`` waits for it."""
    with held(other) as commit:
        request = InThread(door)
        wait_until(waiting_for_a_lock, timeout=30, message="the door to wait for the other transaction")
        commit()
    result = request.join()
    if request.error is not None:
        raise request.error
    return result


@pytest.fixture
def root() -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_superuser("root", password="pw-root-races"))
    return client


def _form_errors(response: Any) -> dict[str, list[str]]:
    context = response.context
    form = context["adminform"].form if "adminform" in context else context["form"]
    return {name: [str(message) for message in messages] for name, messages in form.errors.items()}


# --- an edit racing a delete: 404 --------------------------------------------------------------------


EDITS: dict[str, Callable[[Client, Schedule], Any]] = {
    "api-patch": lambda client, s: client.patch(
        f"/api/schedules/{s.pk}/", json.dumps({"description": "edited"}), content_type="application/json"
    ),
    "schedules-page-edit": lambda client, s: client.post(
        f"/schedules/{s.pk}/edit/", form_data(name=s.name, description="edited")
    ),
    "admin-change": lambda client, s: client.post(
        f"/admin/scheduling/schedule/{s.pk}/change/", form_data(name=s.name, description="edited")
    ),
}


@pytest.mark.parametrize("door", list(EDITS))
def test_an_edit_racing_a_delete_is_not_found(root: Client, door: str):
    schedule = factories.schedule("noop", name="edited-and-deleted", kind="cron", cron="0 2 * * *")
    entries = LogEntry.objects.count()
    response = race(
        lambda: Schedule.objects.filter(pk=schedule.pk).delete(),
        lambda: EDITS[door](root, schedule),
    )
    assert response.status_code == 404, (response.status_code, response.content[:300])
    if door == "api-patch":
        assert response.json() == {
            "detail": f"schedule {schedule.pk} was deleted meanwhile (by another request); nothing was saved"
        }
    assert not Schedule.objects.filter(pk=schedule.pk).exists()
    assert LogEntry.objects.count() == entries  # no history entry for a change that did not happen


# --- two writes of one name: 400 (or the form again) naming the name ---------------------------------


def _create_elsewhere() -> None:
    factories.schedule("noop", name="taken")


def _yaml(tmp_path: Path) -> Callable[[], Any]:
    path = tmp_path / "schedules.yaml"
    path.write_text(
        "- id: taken\n  job: noop\n  interval_seconds: 60\n- id: also-synced\n  job: noop\n  cron: '0 3 * * *'\n"
    )

    def sync() -> Any:
        with pytest.raises(yaml_sync.SyncError) as refused:
            yaml_sync.sync(path)
        return refused.value

    return sync


@pytest.mark.parametrize(
    "door", ["api-create", "schedules-page-new", "schedules-page-rename", "admin-add", "admin-rename", "yaml-sync"]
)
def test_two_writes_of_one_name_answer_a_name_error_in_the_same_words(root: Client, door: str, tmp_path: Path):
    renamed = factories.schedule("noop", name="before", kind="cron", cron="0 2 * * *")
    entries = LogEntry.objects.count()
    doors: dict[str, Callable[[], Any]] = {
        "api-create": lambda: root.post(
            "/api/schedules/",
            json.dumps({"name": "taken", "job": "noop", "cron": "0 2 * * *"}),
            content_type="application/json",
        ),
        "schedules-page-new": lambda: root.post("/schedules/new/", form_data(name="taken")),
        "schedules-page-rename": lambda: root.post(f"/schedules/{renamed.pk}/edit/", form_data(name="taken")),
        "admin-add": lambda: root.post("/admin/scheduling/schedule/add/", form_data(name="taken")),
        "admin-rename": lambda: root.post(f"/admin/scheduling/schedule/{renamed.pk}/change/", form_data(name="taken")),
        "yaml-sync": _yaml(tmp_path),
    }
    answer = race(_create_elsewhere, doors[door])

    if door == "yaml-sync":
        assert [(p.field, p.message) for p in answer.problems] == [("id", TAKEN)]
        assert not Schedule.objects.filter(name="also-synced").exists()  # nothing of the sync was applied
    elif door == "api-create":
        assert answer.status_code == 400 and answer.json() == {"name": [TAKEN]}
    else:  # the form again, with the error on the name (once), as its own check would show it
        assert answer.status_code == 200, (answer.status_code, answer.content[:300])
        assert _form_errors(answer) == {"name": [TAKEN]}
    assert Schedule.objects.filter(name="taken").count() == 1  # the other request's
    assert Schedule.objects.get(pk=renamed.pk).name == "before"
    assert LogEntry.objects.count() == entries


# --- a delete racing a beat's tick: the beat's occurrence goes with the schedule, no 500 ---------------


@pytest.mark.parametrize("how", ["instance", "queryset"])
def test_a_delete_racing_a_beats_tick_deletes_the_occurrence_the_tick_wrote(how: str):
    schedule = factories.schedule("noop", interval_seconds=60)
    when = schedule.next_run_at

    def tick() -> None:  # a beat's claim (the row locked) and its new occurrence, committed after the delete began
        Schedule.objects.select_for_update().filter(pk=schedule.pk).exists()
        ScheduledRun.objects.create(schedule_id=schedule.pk, scheduled_for=when, status="skipped", reason="tick")

    def delete() -> Any:
        if how == "instance":
            return Schedule.objects.get(pk=schedule.pk).delete()
        return Schedule.objects.filter(pk=schedule.pk).delete()

    race(tick, delete)
    assert not Schedule.objects.filter(pk=schedule.pk).exists()
    assert not ScheduledRun.objects.filter(schedule_id=schedule.pk).exists()
