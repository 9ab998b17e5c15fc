"""Upcoming occurrences across schedules, in time buckets: what ``/schedules/timeline/`` shows.

The window (6 h, 24 h or 72 h from now) is cut into equal buckets aligned in UTC (15 minutes, an
hour, three hours: 24 of them, 25 when now is not on a boundary). Work is bounded whatever the number of schedules:

* **Rows** are one page of schedules (``ROWS`` of them, soonest next run first); each row asks the
  pure core for at most ``PER_ROW`` fire times in the window (cron windows are cached per
  expression and zone in ``core.timing``, so schedules sharing a timing cost one walk), marks each
  with the calendar that excludes it, and counts them per bucket.
* **The load line** (occurrences per bucket across *every* matching schedule) groups the schedules
  by timing in one query and walks each distinct timing once, at most ``TIMINGS`` of them and
  ``BUDGET`` fire times in all; interval and one-off timings are counted without a walk. What is
  left out (rarer timings past the limit, calendars, runs left) is said next to it.

Enabled schedules whose next run is past the window have nothing in it and are left out by the
query (``next_run_at`` is kept by the beat); disabled schedules are left out too, except paused
ones, which are shown marked with the times they would fire at once resumed. Nothing here reads
the clock: callers pass ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from django.db.models import Count, F, Q, QuerySet
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from scheduling.core import calendars as calendar_core
from scheduling.core import timing
from scheduling.models import Schedule
from scheduling.surfaces import control_state, describe

BUCKETS = 24
#: Window name -> (length, bucket size).
WINDOWS: dict[str, tuple[timedelta, timedelta]] = {
    "6h": (timedelta(hours=6), timedelta(minutes=15)),
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "72h": (timedelta(hours=72), timedelta(hours=3)),
}
DEFAULT_WINDOW = "24h"
#: Schedules on one page of the timeline.
ROWS = 100
#: Fire times one row enumerates at most (a schedule firing more often shows "500+").
PER_ROW = 500
#: Distinct timings the load line walks, and fire times it enumerates, at most.
TIMINGS = 500
BUDGET = 20_000
#: Fire times a cell's tooltip lists.
TIP = 6
_TICK = timedelta(microseconds=1)
_EMPTY_CELL = mark_safe('<td class="tl-cell lvl-0"></td>')  # a constant: nothing from a user
_TIMING_FIELDS = ("kind", "cron", "interval_seconds", "run_at", "timezone", "start_at", "end_at")


@dataclass(frozen=True, kw_only=True, slots=True)
class Window:
    name: str
    start: datetime
    """The first bucket's start (``now`` floored to the bucket size, UTC)."""
    now: datetime
    end: datetime
    """``now`` plus the window's length: fire times in ``(now, end]`` are shown."""
    bucket: timedelta

    @property
    def count(self) -> int:
        """Buckets from ``start`` to ``end``: ``BUCKETS``, or one more when ``now`` is not on a boundary."""
        return -(-(self.end - self.start) // self.bucket)

    @property
    def starts(self) -> list[datetime]:
        return [self.start + index * self.bucket for index in range(self.count)]

    @property
    def bucket_text(self) -> str:
        """``15 minutes``, ``hour``, ``3 hours``."""
        return describe.describe_interval(int(self.bucket.total_seconds())).removeprefix("every ")

    def index(self, moment: datetime) -> int:
        return min(self.count - 1, max(0, (moment - self.start) // self.bucket))


def window(name: str, now: datetime) -> Window:
    """The window ``name`` (one of ``WINDOWS``; the default otherwise) from ``now``."""
    length, size = WINDOWS.get(name, WINDOWS[DEFAULT_WINDOW])
    now = now.astimezone(UTC)
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    start = epoch + ((now - epoch) // size) * size
    return Window(name=name if name in WINDOWS else DEFAULT_WINDOW, start=start, now=now, end=now + length,
                  bucket=size)  # fmt: skip


@dataclass(frozen=True, kw_only=True, slots=True)
class Filters:
    """What the timeline is narrowed to; empty strings mean "any"."""

    tenant: str = ""
    job: str = ""
    queue: str = ""
    name: str = ""


def selection(filters: Filters, win: Window) -> QuerySet[Schedule]:
    """The schedules that may fire in the window, soonest first: enabled with a next run before its end,
    and paused ones (marked). Uses the ``next_run_at`` the beat keeps; no fire time is computed here."""
    rows = Schedule.objects.filter(
        Q(enabled=True, next_run_at__isnull=False, next_run_at__lte=win.end) | control_state.PAUSED
    )
    if filters.tenant:
        rows = rows.filter(tenant=filters.tenant)
    if filters.job:
        rows = rows.filter(job__key__icontains=filters.job)
    if filters.queue:
        rows = rows.filter(job__queue=filters.queue)
    if filters.name:
        rows = rows.filter(name__icontains=filters.name)
    return rows.order_by(F("next_run_at").asc(nulls_last=True), "name", "pk")


@dataclass(kw_only=True, slots=True)
class Cell:
    count: int = 0
    excluded: int = 0
    times: list[str] = field(default_factory=list)

    @property
    def level(self) -> int:
        """0-4: how dense the cell is drawn (1, 2-3, 4-11, 12+ fire times)."""
        allowed = self.count - self.excluded
        if allowed <= 0:
            return 0
        return 1 if allowed == 1 else 2 if allowed < 4 else 3 if allowed < 12 else 4

    def html(self) -> SafeString:
        """``<td>`` of the cell: its density class, the count, the times in its title (all escaped)."""
        if not self.count:
            return _EMPTY_CELL
        return format_html(
            '<td class="tl-cell lvl-{}{}" title="{}" data-count="{}"{}>{}</td>',
            self.level,
            " has-excluded" if self.excluded else "",
            self.tip,
            self.count,
            format_html(' data-excluded="{}"', self.excluded) if self.excluded else "",
            self.count,
        )

    @property
    def tip(self) -> str:
        more = self.count - len(self.times)
        listed = ", ".join(self.times) + (f" and {more} more" if more > 0 else "")
        text = f"{self.count} fire time{'s' if self.count != 1 else ''}: {listed} UTC"
        return text + (f"; {self.excluded} excluded by a calendar" if self.excluded else "")


@dataclass(kw_only=True, slots=True)
class Row:
    schedule: Schedule
    words: str
    paused: bool
    pause_text: str
    cells: list[Cell]
    total: int = 0
    excluded: int = 0
    capped: bool = False
    first: datetime | None = None

    @property
    def cells_html(self) -> SafeString:
        """The row's cells as HTML, built here rather than by the template (thousands of cells a page)."""
        return format_html_join("", "{}", ((cell.html(),) for cell in self.cells))

    @property
    def total_text(self) -> str:
        return f"{self.total}+" if self.capped else str(self.total)


def row(schedule: Schedule, win: Window, specs: Sequence[calendar_core.CalendarSpec]) -> Row:
    """One schedule's fire times in the window, per bucket, excluded ones counted apart."""
    cells = [Cell() for _ in range(win.count)]
    found = Row(
        schedule=schedule,
        words=describe.describe(schedule),
        paused=schedule.paused,
        pause_text=control_state.pause_text(schedule),
        cells=cells,
    )
    if schedule.remaining_runs == 0:
        return found
    try:
        timing.validate_spec(schedule)
    except timing.ValidationError:
        return found
    times, more, _following = timing.fire_times_window(schedule, win.now, win.end, PER_ROW)
    origin, size, last = win.start.timestamp(), win.bucket.total_seconds(), win.count - 1
    short = win.bucket < timedelta(days=1)
    allowed = 0
    for moment in times:
        if schedule.remaining_runs is not None and allowed >= schedule.remaining_runs:
            break
        cell = cells[min(last, max(0, int((moment.timestamp() - origin) // size)))]
        cell.count += 1
        if len(cell.times) < TIP:
            cell.times.append(f"{moment:%H:%M}" if short else f"{moment:%m-%d %H:%M}")
        found.total += 1
        if specs and calendar_core.excluded_by(specs, moment) is not None:
            cell.excluded += 1
            found.excluded += 1
        else:
            allowed += 1
        if found.first is None:
            found.first = moment
    found.capped = more
    return found


def rows(schedules: Sequence[Schedule], win: Window) -> list[Row]:
    """The rows of one page (its schedules' calendars prefetched). Schedules with the same timing,
    calendars and runs left share one computation (thousands of schedules use a few timings)."""
    computed: dict[tuple[object, ...], Row] = {}
    found: list[Row] = []
    for schedule in schedules:
        attached = sorted(schedule.calendars.all(), key=lambda c: c.name)
        key = (*(getattr(schedule, name) for name in _TIMING_FIELDS), schedule.remaining_runs,
               tuple(calendar.pk for calendar in attached))  # fmt: skip
        same = computed.get(key)
        if same is None:
            same = computed[key] = row(schedule, win, [calendar.spec() for calendar in attached])
            found.append(same)
        else:
            found.append(
                replace(same, schedule=schedule, paused=schedule.paused, pause_text=control_state.pause_text(schedule))
            )
    return found


@dataclass(kw_only=True, slots=True)
class Load:
    """Fire times per bucket across every matching schedule (before calendars and runs left)."""

    counts: list[int]
    schedules: int
    covered: int
    timings: int
    complete: bool

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)

    def levels(self) -> list[int]:
        """0-8 per bucket, relative to the busiest bucket (for the bars' heights)."""
        peak = self.peak
        return [0 if not count else max(1, round(8 * count / peak)) for count in self.counts]


def load(selected: QuerySet[Schedule], win: Window) -> Load:
    """The load line: one grouping query, then each distinct timing walked once, within ``TIMINGS``/``BUDGET``."""
    grouped = selected.order_by().values(*_TIMING_FIELDS).annotate(schedules=Count("pk"))
    groups = list(grouped.order_by("-schedules")[: TIMINGS + 1])
    counts = [0] * win.count
    complete = len(groups) <= TIMINGS
    budget = BUDGET
    covered = 0
    walked = 0
    for group in groups[:TIMINGS]:
        spec = timing.Spec(**{name: group[name] for name in _TIMING_FIELDS})
        try:
            timing.validate_spec(spec)
        except timing.ValidationError:
            continue
        weight = int(group["schedules"])
        if spec.kind == timing.INTERVAL:
            for index, begins in enumerate(win.starts):  # (lower, upper]: a time on a boundary opens its bucket
                lower = max(begins - _TICK, win.now)
                exact = timing.count_fire_times(spec, lower, min(begins + win.bucket, win.end) - _TICK)
                counts[index] += weight * int(exact or 0)
        else:
            if budget <= 0:
                complete = False
                break
            times, more, _following = timing.fire_times_window(spec, win.now, win.end, min(PER_ROW, budget))
            budget -= len(times)
            complete = complete and not more
            for moment in times:
                counts[win.index(moment)] += weight
        covered += weight
        walked += 1
    return Load(counts=counts, schedules=selected.count(), covered=covered, timings=walked, complete=complete)
