"""The django-celery-beat cutover of ``docs/MIGRATING.md`` ("From django-celery-beat"), done on the example host.

The example (``examples/host_project``, with Ostinato's wheel in a fresh venv, a PostgreSQL database
of this test's own and this session's Redis database: ``tests/host_install.py``) first runs its
task as it did before Ostinato: two django-celery-beat ``PeriodicTask`` rows, each every second
(``send_invoices`` for customers 7 and 8), sent by django-celery-beat's own beat (``-S
django_celery_beat.schedulers:DatabaseScheduler``) to the host's worker. Then the documented steps:
that beat stopped gracefully (SIGTERM), ``manage.py import_celery_beat --disable-source``, two of
our beats started. The worker runs throughout. One schedule keeps the policies the import gives
it; on the other the operator sets the overlap policy ``allow`` before starting our beats (as
django-celery-beat behaves: it never skips a send). At the end both are disabled (as the API's
disable does) and the last runs awaited.

What "every occurrence ran exactly once across the switch" means here, per task:

* **django-celery-beat's occurrences** are its sends; their calls are the task's calls whose task
  id is no run's (our runs execute with the run's id as the task id). Each has a task id of its
  own, and there are exactly as many as the ``total_run_count`` django-celery-beat saved when it
  stopped: each message it sent ran once, none twice. Its last send is the ``last_run_at`` it
  saved then.
* **Our occurrences** are the ``ScheduledRun`` rows: one per second (the unique constraint allows no
  more) from the first fire time after that ``last_run_at`` to the last, with no second missing.
  Each dispatched occurrence ran once: its run succeeded and the task recorded exactly one call
  with the run's id. An occurrence that did not run is recorded with its reason and a
  ``run_skipped`` event, by its policies. What fell due while no beat ran (the old one stopped,
  ours not yet started: a few seconds) is on time for the misfire policy (due less than
  ``SCHEDULER_MISFIRE_THRESHOLD_SECONDS`` ago), so none is ``missed``: our first tick finds them all
  due at once. Under the default overlap policy ``skip`` it runs the first and records the others
  ``skipped`` ("run (this tick) of this schedule is still active"); under ``allow`` it runs every
  one. Later a skip may only name a run of the schedule that had not ended when it was decided
  (checked). None is lost unrecorded.
* **Across the switch**: our first occurrence is the first fire time after django-celery-beat's last
  send (the import continues from ``last_run_at``; it once continued from its own ``now``, and the
  seconds in between were lost without a record), so within one interval of it; the last call
  django-celery-beat sent ran before any of ours; and django-celery-beat sent nothing after its
  beat stopped (``total_run_count`` unchanged, its PeriodicTasks disabled by the import).

The figures measured (sends before, occurrences after, the switch) are printed.
"""

from __future__ import annotations

import itertools
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from orchestrator import events
from tests import host_install
from tests.conftest import failed
from tests.helpers import wait_ready
from tests.host_install import Host
from tests.processes import wait_until

#: The two PeriodicTasks, each calling the task with its own customer id (how their calls are told apart):
#: one keeps the policies the import gives it; on the other the operator sets the overlap policy ``allow``
#: after the import (django-celery-beat's own behaviour: it never skips a send), so it runs every occurrence.
DEFAULTS = "cutover-defaults"
ALLOW = "cutover-allow"
CUSTOMERS = {DEFAULTS: 7, ALLOW: 8}
INTERVAL = timedelta(seconds=1)
FINAL = ("succeeded", "failed", "timed_out", "cancelled")
#: Before the switch: this many calls sent by django-celery-beat. After it: this many runs of ours, each.
CALLS_BEFORE = 4
RUNS_AFTER = 6

#: What a host does in django-celery-beat's admin, here through its own Django: its tasks every second.
CREATE_PERIODIC_TASKS = f"""
from django_celery_beat.models import IntervalSchedule, PeriodicTask
every, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
for name, customer in {CUSTOMERS!r}.items():
    PeriodicTask.objects.create(
        name=name, task="billing.tasks.send_invoices", interval=every, args=f"[{{customer}}]",
        kwargs='{{"dry_run": true}}',
    )
"""
#: The operator's choice for one of them, as the admin saves it (the cursor stays: the timing did not change).
ALLOW_OVERLAP = f"""
from scheduling.models import Schedule
schedule = Schedule.objects.get(name={ALLOW!r})
schedule.overlap_policy = "allow"
schedule.save()
print(schedule.next_run_at.isoformat())
"""
#: What the API's disable does (``set_enabled``), through the host's Django.
DISABLE_SCHEDULES = f"""
from scheduling.models import Schedule
print(Schedule.objects.filter(name__in={sorted(CUSTOMERS)!r}).set_enabled(False))
"""
SKIP_REASON = re.compile(r"run (\(this tick\)|[0-9a-f-]{36}) of this schedule is still active \(overlap policy skip\)")
EVENTS = Path("var") / "ostinato" / "logs" / "orchestrator_state.jsonl"  # the default EVENTS_PATH, in the project


@pytest.fixture
def host(
    installed: host_install.Install, tmp_path: Path, redis_db: redis_lib.Redis, request: pytest.FixtureRequest
) -> Iterator[Host]:
    database = f"test_ostinato_s{os.environ['OSTINATO_TEST_SLOT']}_cutover"
    with host_install.host_project(installed, tmp_path, database=database, report_if=lambda: failed(request)) as found:
        yield found


@dataclass(frozen=True)
class Call:
    """One call of ``send_invoices``, as the task recorded it (``billing.models.InvoiceBatch``)."""

    task_id: str
    customer_id: int
    rest: tuple[bool, str]  # dry_run, the Celery app it ran in
    at: datetime


@dataclass(frozen=True)
class Occurrence:
    """One ``ScheduledRun`` of an imported schedule, with its run (if it has one)."""

    scheduled_for: datetime
    status: str
    reason: str
    decided_at: datetime  # the tick's time (``created_at``)
    run_id: str | None
    run_status: str | None
    run_created_at: datetime | None
    run_finished_at: datetime | None


@dataclass(frozen=True)
class Handover:
    """What django-celery-beat saved of a PeriodicTask when its beat stopped."""

    last_run_at: datetime
    sent: int  # total_run_count


def calls(host: Host) -> list[Call]:
    rows = host.sql("SELECT task_id, customer_id, dry_run, app_name, created_at FROM billing_invoicebatch ORDER BY id")
    return [Call(task_id, customer, (dry_run, app), at) for task_id, customer, dry_run, app, at in rows]


def periodic_tasks(host: Host) -> dict[str, tuple[datetime, int, bool]]:
    """django-celery-beat's rows of the two tasks: name -> (last_run_at, total_run_count, enabled)."""
    rows = host.sql(
        "SELECT name, last_run_at, total_run_count, enabled FROM django_celery_beat_periodictask WHERE name = ANY(%s)",
        (sorted(CUSTOMERS),),
    )
    return {name: (last_run_at, count, enabled) for name, last_run_at, count, enabled in rows}


def occurrences(host: Host, name: str) -> list[Occurrence]:
    rows = host.sql(
        "SELECT o.scheduled_for, o.status, o.reason, o.created_at, o.run_id::text, r.status, r.created_at,"
        " r.finished_at FROM scheduling_scheduledrun o JOIN scheduling_schedule s ON s.id = o.schedule_id"
        " LEFT JOIN orchestrator_run r ON r.id = o.run_id WHERE s.name = %s ORDER BY o.scheduled_for",
        (name,),
    )
    return [Occurrence(*row) for row in rows]


def test_the_django_celery_beat_cutover_runs_each_occurrence_once_across_the_switch(host: Host) -> None:
    host.manage("migrate", "--noinput")
    host.manage("shell", "--no-imports", "-c", CREATE_PERIODIC_TASKS)
    worker = host.start("worker", "-m", "celery", "-A", "hostsite", "worker", "-Q", "celery", "-c", "2", "-l", "info",
                        "-n", f"cutover-{os.getpid()}@%h", "--without-gossip", "--without-mingle")  # fmt: skip
    wait_ready(worker, timeout=60)
    old_beat = host.start("beat-django-celery-beat", "-m", "celery", "-A", "hostsite", "beat", "-l", "info",
                          "-S", "django_celery_beat.schedulers:DatabaseScheduler", "--pidfile=")  # fmt: skip
    wait_ready(old_beat, timeout=60)

    # Before the switch: django-celery-beat runs the tasks every second, as the site did before Ostinato.
    def sent_enough() -> bool:
        found = Counter(call.customer_id for call in calls(host))
        return all(found[customer] >= CALLS_BEFORE for customer in CUSTOMERS.values())

    wait_until(sent_enough, timeout=60, interval=0.2, message="django-celery-beat's sends")

    # Step 2: its beat stopped gracefully; it writes each task's last_run_at and total_run_count as it exits.
    assert old_beat.terminate() == 0, old_beat.tail()
    stopped = datetime.now(UTC)
    saved = periodic_tasks(host)
    assert all(enabled for _, _, enabled in saved.values())
    handover = {name: Handover(last_run_at=last_run_at, sent=sent) for name, (last_run_at, sent, _) in saved.items()}
    total_sent = sum(h.sent for h in handover.values())
    wait_until(lambda: len(calls(host)) >= total_sent, timeout=30, message=f"the worker to run the {total_sent} sends")

    # Step 3: the import hands the PeriodicTasks over (the site's beat_schedule entries too: django-celery-beat's
    # beat wrote them as PeriodicTasks when it started; Celery's own backend_cleanup stays there).
    lines = host.manage("import_celery_beat", "--disable-source").splitlines()
    assert lines[0].startswith(
        "celery.backend_cleanup: skipped: task 'celery.backend_cleanup' is not a task of this Celery app"
    )
    assert lines[1:] == [
        *(
            f"{name}: created (start_at {handover[name].last_run_at.isoformat()}: goes on from its last run, as it "
            "did there)"
            for name in (ALLOW, DEFAULTS)
        ),
        "invoices-nightly: created",
        "payments-every-15-minutes: created",
        "4 created, 0 updated, 0 unchanged, 1 skipped",
        "django-celery-beat: 4 PeriodicTask(s) disabled; the 1 skipped stay enabled there",
    ]
    assert periodic_tasks(host) == {name: (h.last_run_at, h.sent, False) for name, h in handover.items()}, (
        "disabled there, their last runs left as they were"
    )
    made = {
        name: (next_run_at, overlap, misfire)
        for name, next_run_at, overlap, misfire in host.sql(
            "SELECT name, next_run_at, overlap_policy, misfire_policy FROM scheduling_schedule WHERE name = ANY(%s)",
            (sorted(CUSTOMERS),),
        )
    }
    assert made == {name: (h.last_run_at + INTERVAL, "skip", "run_once") for name, h in handover.items()}, (
        "each continues from its last run there, with the default policies"
    )
    next_allowed = host.manage("shell", "--no-imports", "-c", ALLOW_OVERLAP).strip()
    assert next_allowed == (handover[ALLOW].last_run_at + INTERVAL).isoformat()

    # Step 4: two of our beats; after several runs the schedules are disabled and the last runs awaited.
    beats = [
        host.start(f"beat-{i}", "-m", "celery", "-A", "hostsite", "beat", "-l", "info", "--pidfile=") for i in (1, 2)
    ]
    for proc in beats:
        wait_ready(proc, timeout=60)

    def ran_enough() -> bool:
        succeeded = [sum(o.run_status == "succeeded" for o in occurrences(host, name)) for name in CUSTOMERS]
        return min(succeeded) >= RUNS_AFTER

    wait_until(ran_enough, timeout=60, interval=0.2, message="our beats' runs")
    assert host.manage("shell", "--no-imports", "-c", DISABLE_SCHEDULES).strip() == "2"

    def all_ended() -> dict[str, list[Occurrence]] | None:
        found = {name: occurrences(host, name) for name in CUSTOMERS}
        ended = all(o.run_id is None or o.run_status in FINAL for name in found for o in found[name])
        return found if ended else None

    ours: dict[str, list[Occurrence]] = wait_until(all_ended, timeout=60, interval=0.2, message="every run to end")
    everything = calls(host)
    assert all(proc.alive() for proc in (worker, *beats))
    assert {call.rest for call in everything} == {(True, "hostsite")}, "its kwargs, in the host's app"
    assert periodic_tasks(host) == {name: (h.last_run_at, h.sent, False) for name, h in handover.items()}, (
        "django-celery-beat sent nothing more"
    )
    logged = list(events.iter_events(host.folder / EVENTS))
    figures = [
        check_switch(name, handover[name], ours[name], [c for c in everything if c.customer_id == customer], logged)
        for name, customer in CUSTOMERS.items()
    ]
    assert not [o for o in ours[ALLOW] if o.status != "dispatched"], "overlap policy allow: every occurrence ran"
    print(f"\ncutover figures (django-celery-beat's beat exited at {stopped.isoformat()}):\n" + "\n".join(figures))


def check_switch(
    name: str, handover: Handover, ours: list[Occurrence], mine: list[Call], logged: list[dict[str, Any]]
) -> str:
    """Every occurrence of one task once across the switch (the module's docstring); its figures as text."""
    # django-celery-beat's side: every message it sent ran once.
    run_ids = {o.run_id for o in ours if o.run_id is not None}
    before = [call for call in mine if call.task_id not in run_ids]
    assert len(before) == handover.sent, f"{name}: {len(before)} calls of {handover.sent} sends"
    assert len({call.task_id for call in before}) == handover.sent, f"{name}: each send ran once"
    assert handover.last_run_at <= before[-1].at, f"{name}: its last send ran after it was sent"

    # Our side: every second from the first after its last run, once; each dispatched one ran once.
    times = [o.scheduled_for for o in ours]
    expected = [handover.last_run_at + INTERVAL * i for i in range(1, len(ours) + 1)]
    assert times == expected, f"{name}: each second once, from the first after its last run there, none missing"
    dispatched = [o for o in ours if o.status == "dispatched"]
    skipped = [o for o in ours if o.status == "skipped"]
    assert len(dispatched) + len(skipped) == len(ours), Counter(o.status for o in ours)  # none missed or buffered
    assert {o.run_status for o in dispatched} == {"succeeded"}, name
    per_run = Counter(call.task_id for call in mine if call.task_id in run_ids)
    assert per_run == Counter({o.run_id: 1 for o in dispatched}), f"{name}: one call per run"
    assert len(mine) == handover.sent + len(dispatched), f"{name}: no call but theirs and our runs'"

    # What did not run: skipped, naming the run that was still active when it was decided.
    first_tick = ours[0].decided_at
    assert ours[0].status == "dispatched", f"{name}: the first due occurrence runs"
    by_run = {o.run_id: o for o in dispatched}
    for o in skipped:
        match = SKIP_REASON.fullmatch(o.reason)
        assert match, o.reason
        if match.group(1) == "(this tick)":  # an earlier occurrence dispatched by the same tick
            assert any(d.decided_at == o.decided_at and d.scheduled_for < o.scheduled_for for d in dispatched), o
        else:
            holder = by_run[match.group(1)]
            assert holder.scheduled_for < o.scheduled_for and holder.run_created_at is not None, o
            # active when decided: the end is stamped a moment before it commits, and the tick reads before that
            ended = holder.run_finished_at or o.decided_at
            assert holder.run_created_at <= o.decided_at <= ended + timedelta(seconds=1), (o, holder)
    skips = [e for e in logged if e["event"] == "run_skipped" and e["schedule"] == name]
    assert sorted(e["scheduled_for"] for e in skips) == [events.utc_stamp(o.scheduled_for) for o in skipped], (
        f"{name}: each skip has its event, once"
    )
    for run_id in run_ids:
        assert [e["event"] for e in logged if e.get("run_id") == run_id] == [
            "schedule_enqueued", "run_started", "run_finished"
        ]  # fmt: skip

    # Across the switch: ours starts one interval after their last send, and no call of theirs ran after ours began.
    first_call = min(call.at for call in mine if call.task_id in run_ids)
    assert handover.last_run_at < ours[0].scheduled_for <= handover.last_run_at + INTERVAL, name
    assert all(call.at < first_call for call in before), f"{name}: no call of django-celery-beat after the switch"

    caught_up = [o for o in ours if o.decided_at == first_tick]
    sent_gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(before)]
    return (
        f"  {name}: before: {handover.sent} sends of django-celery-beat, each ran once (calls "
        f"{min(sent_gaps):.2f}-{max(sent_gaps):.2f} s apart), the last saved as last_run_at "
        f"{handover.last_run_at.isoformat()}\n"
        f"    switch: our first tick {(first_tick - handover.last_run_at).total_seconds():.2f} s after that run found "
        f"{len(caught_up)} occurrences due (+1 s ... +{len(caught_up)} s): "
        f"{sum(o.status == 'dispatched' for o in caught_up)} ran, "
        f"{sum(o.status == 'skipped' for o in caught_up)} recorded skipped (overlap policy); between their last "
        f"call and our first: {(first_call - before[-1].at).total_seconds():.2f} s\n"
        f"    after: {len(ours)} occurrences, one a second from last_run_at + 1 s: {len(dispatched)} ran once each, "
        f"{len(skipped)} skipped ({sum(o.decided_at != first_tick for o in skipped)} after the first tick), "
        "0 missed, 0 lost"
    )
