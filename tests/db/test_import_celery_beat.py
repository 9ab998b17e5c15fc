"""``manage.py import_celery_beat`` on django-celery-beat's own tables in PostgreSQL (not installed here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from orchestrator.connections import celery_app
from orchestrator.models import Job
from scheduling.engine import dispatch
from scheduling.models import Schedule, ScheduledRun
from scheduling.surfaces.imports.celery_beat import HANDED_OVER, run_import
from tests import celery_beat_tables as beat
from tests import factories, host_tasks

pytestmark = pytest.mark.django_db

assert host_tasks.add.name == "host.add"  # the host's tasks are registered in the app
FUTURE = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture(autouse=True)
def tables() -> None:
    beat.create_tables()


def run(*options: str) -> list[str]:
    out = StringIO()
    call_command("import_celery_beat", *options, stdout=out)
    return out.getvalue().splitlines()


def writes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


def test_crontab_interval_and_clocked_map_to_cron_interval_and_once() -> None:
    beat.periodic_task(
        "nightly-invoices",
        "host.add",
        crontab_id=beat.crontab("30", "2", "*", "*", "mon-fri", timezone="Europe/Berlin"),
        args="[1, 2]",
        kwargs='{"scale": 3}',
        description="sums, nightly",
        start_time=datetime(2030, 1, 1, tzinfo=UTC),
        expires=datetime(2035, 1, 1, tzinfo=UTC),
    )
    beat.periodic_task("every-two-hours", "host.who", interval_id=beat.interval(2, "hours"), enabled=False)
    beat.periodic_task("launch", "host.who", clocked_id=beat.clocked(FUTURE), one_off=True, kwargs='{"note": "go"}')
    lines = run()
    assert lines == [
        "every-two-hours: created",
        "launch: created",
        "nightly-invoices: created",
        "3 created, 0 updated, 0 unchanged, 0 skipped",
        "note: 2 imported schedule(s) are enabled here while their PeriodicTask is still enabled in "
        "django-celery-beat: while its beat runs, each would run twice. Stop that beat, or run again with "
        "--disable-source to hand them over",
    ]
    nightly = Schedule.objects.get(name="nightly-invoices")
    assert (nightly.kind, nightly.cron, nightly.timezone) == ("cron", "30 2 * * 1-5", "Europe/Berlin")
    assert (nightly.job.key, nightly.job.kind) == ("host.add", "celery_task")
    assert nightly.params == {"args": [1, 2], "kwargs": {"scale": 3}}
    assert (nightly.start_at, nightly.end_at) == (datetime(2030, 1, 1, tzinfo=UTC), datetime(2035, 1, 1, tzinfo=UTC))
    assert (nightly.description, nightly.enabled, nightly.source, nightly.source_path) == (
        "sums, nightly",
        True,
        "celery_beat",
        "django_celery_beat",
    )
    assert nightly.next_run_at == datetime(2030, 1, 1, 1, 30, tzinfo=UTC)  # Wed 02:30 in Berlin (UTC+1)
    interval = Schedule.objects.get(name="every-two-hours")
    assert (interval.kind, interval.interval_seconds, interval.enabled) == ("interval", 7200, False)
    assert interval.params == {"args": [], "kwargs": {}}
    launch = Schedule.objects.get(name="launch")
    assert (launch.kind, launch.run_at, launch.next_run_at) == ("once", FUTURE, FUTURE)


@pytest.mark.parametrize(
    ("fields", "cron"),
    [
        (("0", "9", "*", "*", "7"), "0 9 * * 0"),  # django-celery-beat: Sunday is 0 or 7
        (("0", "9", "*", "*", "0-7"), "0 9 * * *"),  # every day, not cron's day-of-month-or-week rule
        (("0", "9", "*", "*", "sat,sun"), "0 9 * * 0,6"),
        (("0", "9", "*", "*", "fri-mon"), "0 9 * * 0,1,5,6"),  # Celery's range wraps
        (("*/15", "*/2", "1-31", "jan-mar", "*"), "*/15 */2 * 1-3 *"),
        (("5", "4", "1,15", "*", "*"), "5 4 1,15 * *"),
    ],
)
def test_crontab_fields_are_read_as_celery_reads_them(fields: tuple[str, ...], cron: str) -> None:
    beat.periodic_task("t", "host.who", crontab_id=beat.crontab(*fields))
    assert run()[0] == "t: created"
    assert Schedule.objects.get(name="t").cron == cron


def test_intervals_are_whole_seconds_and_a_fraction_is_skipped() -> None:
    beat.periodic_task("days", "host.who", interval_id=beat.interval(3, "days"))
    beat.periodic_task("micro-whole", "host.who", interval_id=beat.interval(5_000_000, "microseconds"))
    beat.periodic_task("micro-part", "host.who", interval_id=beat.interval(1_500_000, "microseconds"))
    lines = run()
    assert lines[:3] == [
        "days: created",
        "micro-part: skipped: interval of 1500000 microseconds 1.5 s is not a whole number of seconds, and "
        "intervals here are whole seconds; make it whole",
        "micro-whole: created",
    ]
    assert Schedule.objects.get(name="days").interval_seconds == 3 * 86400
    assert Schedule.objects.get(name="micro-whole").interval_seconds == 5
    assert not Schedule.objects.filter(name="micro-part").exists()


def test_every_reason_to_skip_is_printed_and_nothing_of_those_rows_is_written() -> None:
    factories.schedule("noop", name="taken")
    every = beat.crontab("0", "3")
    past = datetime.now(UTC) - timedelta(days=1)
    beat.periodic_task("solar", "host.who", solar_id=beat.solar())
    beat.periodic_task("unknown", "billing.tasks.nope", crontab_id=every)
    beat.periodic_task("celery-own", "celery.backend_cleanup", crontab_id=every)
    beat.periodic_task("a-function-job", "noop", crontab_id=every)
    beat.periodic_task("bad-args", "host.add", crontab_id=every, args="[1]")
    beat.periodic_task("bad-json", "host.add", crontab_id=every, args="[1, ")
    beat.periodic_task("other-queue", "host.add", crontab_id=every, args="[1, 2]", queue="billing")
    beat.periodic_task("other-key", "host.who", crontab_id=every, routing_key="reports")
    beat.periodic_task("both-days", "host.who", crontab_id=beat.crontab("0", "9", "1-7", "*", "1"))
    beat.periodic_task("bad-zone", "host.who", crontab_id=beat.crontab("0", "9", timezone="Mars/Olympus"))
    beat.periodic_task("passed", "host.who", clocked_id=beat.clocked(past), one_off=True)
    beat.periodic_task("done-once", "host.who", crontab_id=every, one_off=True, last_run_at=past, total_run_count=1)
    beat.periodic_task("no-schedule", "host.who")
    beat.periodic_task("taken", "host.who", crontab_id=every)
    beat.periodic_task("fine", "host.add", crontab_id=every, args="[1, 2]", queue="default")
    lines = run()
    reasons = {line.split(": skipped: ")[0]: line.split(": skipped: ")[1] for line in lines if ": skipped: " in line}
    assert reasons["solar"].startswith("a solar schedule (sunrise at latitude 40.712800, longitude -74.006000) has")
    assert reasons["unknown"].startswith("task 'billing.tasks.nope' is not a task of this Celery app that can be a job")
    assert reasons["celery-own"].startswith("task 'celery.backend_cleanup' is not a task of this Celery app")
    assert reasons["a-function-job"] == "task 'noop' is the key of a job of kind function here, not a Celery task"
    assert reasons["bad-args"] == (
        "params: args and kwargs do not fit host.add(x, y, *, scale=1): missing a required argument: 'y'"
    )
    assert reasons["bad-json"].startswith("args is not valid JSON: Expecting value")
    assert reasons["other-queue"].startswith(
        "queue 'billing' is not the queue of the job host.add ('default'), and a schedule has no queue of its own "
        "here: set the job's queue to 'billing' (admin or API) if every schedule of host.add should run there"
    )
    assert reasons["other-key"].startswith("routing_key 'reports' is not the queue of the job host.who")
    assert reasons["both-days"].startswith("crontab restricts both day_of_month (1-7) and day_of_week (1)")
    assert reasons["bad-zone"].startswith("timezone: unknown time zone 'Mars/Olympus'")
    assert reasons["passed"].startswith(f"clocked at {past.isoformat()}, which has passed (it never ran)")
    assert reasons["done-once"] == f"one_off and it already ran (at {past.isoformat()}): nothing is left"
    assert reasons["no-schedule"] == (
        "a PeriodicTask has exactly one schedule; this one has none of crontab, interval, clocked and solar"
    )
    assert reasons["taken"] == (
        "a schedule named 'taken' was made in the admin, not by the django-celery-beat import; it is left as it "
        "is: rename one of them to bring this one over"
    )
    assert len(reasons) == 14 and "fine: created" in lines
    assert lines[-2] == "1 created, 0 updated, 0 unchanged, 14 skipped"
    assert set(Schedule.objects.values_list("name", flat=True)) == {"taken", "fine"}
    assert Schedule.objects.get(name="taken").source == "admin"


def test_a_task_gone_from_the_app_is_skipped_even_when_its_row_is_unchanged() -> None:
    beat.periodic_task("quiet", "host.quiet", crontab_id=beat.crontab("0", "3"))
    assert run()[0] == "quiet: created"
    tasks = celery_app().tasks
    task = tasks.pop("host.quiet")  # a release of the host without it
    try:
        assert run()[0].startswith("quiet: skipped: task 'host.quiet' is not a task of this Celery app")
    finally:
        tasks["host.quiet"] = task


def test_message_options_that_do_not_map_are_named_in_the_outcome() -> None:
    beat.periodic_task(
        "dropping",
        "host.who",
        crontab_id=beat.crontab("0", "6"),
        priority=5,
        headers='{"tenant": "a"}',
        expire_seconds=300,
    )
    assert run()[0] == (
        "dropping: created (dropped priority 5: runs have no message priority here; dropped headers "
        "{'tenant': 'a'}: runs carry no message headers of their own; dropped expire_seconds 300: a run's message "
        "does not expire here (the job's timeout bounds the run))"
    )


def test_a_second_run_is_all_unchanged_and_writes_nothing() -> None:
    beat.periodic_task("c", "host.add", crontab_id=beat.crontab("0", "3"), args="[1, 2]")
    ran = datetime.now(UTC) - timedelta(minutes=3)
    beat.periodic_task("i", "host.who", interval_id=beat.interval(10, "minutes"), last_run_at=ran)
    beat.periodic_task("o", "host.who", clocked_id=beat.clocked(FUTURE), one_off=True)
    beat.periodic_task("x", "host.who", solar_id=beat.solar())
    run()
    with CaptureQueriesContext(connection) as queries:
        lines = run()
    phase = f"start_at {ran.isoformat()}: goes on from its last run, as it did there"
    assert lines[:3] == ["c: unchanged", f"i: unchanged ({phase})", "o: unchanged"]
    assert lines[3].startswith("x: skipped: a solar schedule")
    assert lines[4] == "0 created, 0 updated, 3 unchanged, 1 skipped"
    assert writes(queries) == []


def test_edits_in_django_celery_beat_are_picked_up_on_the_next_run() -> None:
    beat.periodic_task("edited", "host.add", crontab_id=beat.crontab("0", "3"), args="[1, 2]")
    beat.periodic_task("same", "host.who", crontab_id=beat.crontab("0", "4"))
    run()
    beat.update_task("edited", args="[5, 6]", crontab_id=beat.crontab("15", "3"), enabled=False)
    lines = run()
    assert lines[0] == (
        "edited: updated (params: {'args': [1, 2], 'kwargs': {}} -> {'args': [5, 6], 'kwargs': {}}; "
        "enabled: True -> False; cron: '0 3 * * *' -> '15 3 * * *')"
    )
    assert lines[1:3] == ["same: unchanged", "0 created, 1 updated, 1 unchanged, 0 skipped"]
    edited = Schedule.objects.get(name="edited")
    assert (edited.cron, edited.params["args"], edited.enabled) == ("15 3 * * *", [5, 6], False)


def test_fields_an_import_does_not_map_stay_as_the_operators_set_them() -> None:
    beat.periodic_task("tuned", "host.who", crontab_id=beat.crontab("0", "3"))
    run()
    Schedule.objects.filter(name="tuned").update(overlap_policy="buffer_one", tenant="ops", max_concurrency=2)
    assert run()[0] == "tuned: unchanged"
    tuned = Schedule.objects.get(name="tuned")
    assert (tuned.overlap_policy, tuned.tenant, tuned.max_concurrency) == ("buffer_one", "ops", 2)


def test_a_dry_run_validates_and_prints_but_writes_nothing() -> None:
    beat.periodic_task("new", "host.add", crontab_id=beat.crontab("0", "3"), args="[1, 2]")
    beat.periodic_task("solar", "host.who", solar_id=beat.solar())
    lines = run("--dry-run", "--disable-source")
    assert lines == [
        "new: would be created",
        lines[1],
        "dry run, nothing written: would be 1 created, 0 updated, 0 unchanged, 1 skipped",
        "django-celery-beat: 1 PeriodicTask(s) would be disabled; the 1 skipped stay enabled there",
    ]
    assert lines[1].startswith("solar: skipped: a solar schedule")
    assert not Schedule.objects.exists()
    assert not Job.objects.filter(key="host.add").exists()  # not even the job row made on first use
    assert beat.task_rows()["new"]["enabled"] is True
    assert beat.last_update() is None


def test_disable_source_hands_the_imported_tasks_over_and_tells_their_beat() -> None:
    before = datetime.now(UTC) - timedelta(hours=1)
    beat.set_last_update(before)
    beat.periodic_task("moved", "host.who", crontab_id=beat.crontab("0", "3"))
    beat.periodic_task("paused-there", "host.who", crontab_id=beat.crontab("0", "4"), enabled=False)
    beat.periodic_task("stays", "host.who", solar_id=beat.solar())
    lines = run("--disable-source")
    assert lines[-1] == "django-celery-beat: 1 PeriodicTask(s) disabled; the 1 skipped stay enabled there"
    rows = beat.task_rows()
    assert (rows["moved"]["enabled"], rows["paused-there"]["enabled"], rows["stays"]["enabled"]) == (False, False, True)
    assert rows["moved"]["date_changed"] > before
    assert beat.last_update() > before  # a running django-celery-beat beat reloads and drops them
    moved = Schedule.objects.get(name="moved")
    assert (moved.enabled, moved.source_path) == (True, HANDED_OVER)
    assert Schedule.objects.get(name="paused-there").enabled is False

    # handed over: the PeriodicTask's enabled=false is the handover, not a wish to disable the schedule
    bumped = beat.last_update()
    with CaptureQueriesContext(connection) as queries:
        again = run()
    assert again[:2] == ["moved: unchanged", "paused-there: unchanged"]
    assert Schedule.objects.get(name="moved").enabled is True
    assert writes(queries) == [] and beat.last_update() == bumped


def test_disable_source_is_in_the_same_transaction_as_the_schedules() -> None:
    beat.periodic_task("moved", "host.who", crontab_id=beat.crontab("0", "3"))
    with connection.cursor() as cursor:  # django-celery-beat's marker refuses to move: the import must not half-apply
        cursor.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no'; END $$;"
            "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON django_celery_beat_periodictasks "
            "FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
    with pytest.raises(DatabaseError, match="no"):
        run("--disable-source")
    assert not Schedule.objects.exists()
    assert beat.task_rows()["moved"]["enabled"] is True


def test_a_run_that_already_happened_there_does_not_happen_again_here() -> None:
    first = datetime(2030, 6, 1, 10, 30, tzinfo=UTC)
    beat.periodic_task("hourly", "host.who", crontab_id=beat.crontab("0", "*"))
    beat.periodic_task("every-6h", "host.who", interval_id=beat.interval(6, "hours"))
    run_import(now=first)
    hourly = Schedule.objects.get(name="hourly")
    assert hourly.next_run_at == datetime(2030, 6, 1, 11, 0, tzinfo=UTC)

    # django-celery-beat's beat ran the 11:00 occurrence (and a 6-hourly one) before the handover; this
    # import runs late, while this beat's cursor still points at 11:00
    ran = datetime(2030, 6, 1, 11, 0, 2, tzinfo=UTC)
    beat.update_task("hourly", last_run_at=ran, total_run_count=1)
    beat.update_task("every-6h", last_run_at=ran, total_run_count=1)
    later = datetime(2030, 6, 1, 11, 0, 30, tzinfo=UTC)
    report = run_import(now=later)
    assert [o.action for o in report.outcomes] == ["updated", "updated"]
    hourly.refresh_from_db()
    assert (hourly.last_run_at, hourly.next_run_at) == (ran, datetime(2030, 6, 1, 12, 0, tzinfo=UTC))
    every = Schedule.objects.get(name="every-6h")
    assert (every.start_at, every.last_run_at, every.next_run_at) == (ran, ran, ran + timedelta(hours=6))
    assert dispatch.dispatch_due(later).claimed == 0
    assert not ScheduledRun.objects.exists()

    # this beat went on (its own last run is later): the stale one there changes nothing
    Schedule.objects.filter(name="hourly").update(last_run_at=datetime(2030, 6, 1, 12, 0, tzinfo=UTC))
    assert run_import(now=later).outcomes[0].action == "unchanged"


def test_what_fell_due_after_its_last_run_there_stays_due_here() -> None:
    """The handover's gap: django-celery-beat's beat stopped after its run at ``ran``; the import and our
    beats come seconds later. The occurrences in between ran nowhere: they stay due (the cursor is the
    first one after ``ran``, in the past), so our beat takes them up under its policies (its first tick
    runs one and records the others: ``tests/live/test_cutover.py``). The cursor once jumped to the
    first one after the import's ``now``, dropping them without a record."""
    ran = datetime(2030, 6, 1, 10, 0, 0, 500000, tzinfo=UTC)
    beat.periodic_task(
        "every-second", "host.who", interval_id=beat.interval(1, "seconds"), last_run_at=ran, total_run_count=40
    )
    imported = ran + timedelta(seconds=2.2)
    run_import(disable_source=True, now=imported)
    made = Schedule.objects.get(name="every-second")
    assert (made.start_at, made.last_run_at, made.next_run_at) == (ran, ran, ran + timedelta(seconds=1))
    assert made.due_at == made.next_run_at and list(Schedule.objects.due(imported)) == [made]


def test_a_stored_schedule_takes_up_what_fell_due_after_the_later_run_there() -> None:
    first = datetime(2030, 6, 1, 10, 0, tzinfo=UTC)
    beat.periodic_task("every-minute", "host.who", crontab_id=beat.crontab("*", "*"))
    run_import(now=first)  # imported early (a dry run's twin), while django-celery-beat's beat went on
    made = Schedule.objects.get(name="every-minute")
    assert made.next_run_at == first + timedelta(minutes=1)
    ran = datetime(2030, 6, 1, 10, 7, 0, 300000, tzinfo=UTC)  # its last run, before it stopped
    beat.update_task("every-minute", last_run_at=ran, total_run_count=7)
    assert run_import(disable_source=True, now=ran + timedelta(minutes=2, seconds=30)).outcomes[0].action == "updated"
    made.refresh_from_db()
    assert (made.last_run_at, made.next_run_at) == (ran, datetime(2030, 6, 1, 10, 8, tzinfo=UTC))


def test_a_one_off_crontab_runs_once_at_its_next_time_and_importing_again_keeps_it() -> None:
    now = datetime(2030, 6, 1, 10, 30, tzinfo=UTC)
    beat.periodic_task("once-at-noon", "host.who", crontab_id=beat.crontab("0", "12"), one_off=True)
    report = run_import(now=now)
    noon = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    assert report.outcomes[0].notes == (f"one_off: a one-off at the crontab's next time, {noon.isoformat()}",)
    row = Schedule.objects.get(name="once-at-noon")
    assert (row.kind, row.run_at, row.cron) == ("once", noon, "")
    # after noon (it ran here), importing again neither moves it to tomorrow nor refuses it
    assert run_import(now=noon + timedelta(hours=3)).outcomes[0].action == "unchanged"
    assert Schedule.objects.get(name="once-at-noon").run_at == noon


def test_missing_tables_are_said_clearly() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE django_celery_beat_periodictask")
    with pytest.raises(CommandError, match="django-celery-beat's tables are not in this database") as failure:
        run()
    assert "django_celery_beat_periodictask missing" in str(failure.value)
    assert "manage.py migrate django_celery_beat" in str(failure.value)
