"""A schedule's last runs as the schedule page shows them: durations, a sparkline and a success strip.

One query (the newest occurrences that have a run, through the ``(schedule, -created_at)`` index,
with the run's times joined). The sparkline and the strip are drawn here as plain geometry and
rendered by the template as inline SVG: no script, nothing the Content-Security-Policy forbids, and
no user text inside (the status words are closed values). Nothing here reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scheduling.models import Schedule, ScheduledRun

#: Runs the strip and the sparkline cover (the newest ones).
LIMIT = 30
SPARK_WIDTH = 240
SPARK_HEIGHT = 40
STRIP_CELL = 8
STRIP_GAP = 2
FINISHED_OK = "succeeded"
FAILURES = frozenset({"failed", "timed_out"})


@dataclass(frozen=True, kw_only=True, slots=True)
class RunItem:
    run_id: str
    status: str
    trigger: str
    scheduled_for: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def duration_ms(self) -> int | None:
        """Milliseconds from start to finish; None while it has not finished (or never started)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0, int((self.finished_at - self.started_at).total_seconds() * 1000))

    @property
    def duration_text(self) -> str:
        return duration_text(self.duration_ms)

    @property
    def outcome(self) -> str:
        """``ok``, ``bad`` or ``other`` (cancelled, still active): the strip's three colours."""
        if self.status == FINISHED_OK:
            return "ok"
        return "bad" if self.status in FAILURES else "other"


def duration_text(duration_ms: int | None) -> str:
    """``850 ms``, ``12.4 s``, ``3 min 05 s``, ``1 h 02 min``; ``—`` for none."""
    if duration_ms is None:
        return "—"
    if duration_ms < 1000:
        return f"{duration_ms} ms"
    seconds = duration_ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def last_runs(schedule: Schedule, limit: int = LIMIT) -> list[RunItem]:
    """The schedule's newest ``limit`` runs, newest first; one query."""
    rows = (
        ScheduledRun.objects.filter(schedule_id=schedule.pk, run__isnull=False)
        .order_by("-created_at", "-pk")
        .values_list(
            "run_id", "run__status", "trigger", "scheduled_for", "run__created_at", "run__started_at",
            "run__finished_at",
        )[:limit]
    )  # fmt: skip
    return [
        RunItem(
            run_id=str(run_id),
            status=status,
            trigger=trigger,
            scheduled_for=scheduled_for,
            created_at=created_at,
            started_at=started_at,
            finished_at=finished_at,
        )
        for run_id, status, trigger, scheduled_for, created_at, started_at, finished_at in rows
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class Sparkline:
    """The durations of the finished runs, oldest left: an SVG polyline's ``points`` and its scale."""

    points: str
    dots: list[tuple[float, float, str]]
    width: int
    height: int
    longest_ms: int
    shortest_ms: int
    count: int

    @property
    def summary(self) -> str:
        if not self.count:
            return "no finished runs yet"
        return (
            f"{self.count} finished run{'s' if self.count != 1 else ''}: shortest {duration_text(self.shortest_ms)}, "
            f"longest {duration_text(self.longest_ms)}"
        )


def sparkline(runs: list[RunItem], *, width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> Sparkline:
    """Geometry of the duration sparkline of ``runs`` (newest first, as ``last_runs`` gives them)."""
    finished = [(run, run.duration_ms) for run in reversed(runs) if run.duration_ms is not None]
    if not finished:
        return Sparkline(points="", dots=[], width=width, height=height, longest_ms=0, shortest_ms=0, count=0)
    values = [duration for _run, duration in finished if duration is not None]
    longest, shortest = max(values), min(values)
    pad = 3.0
    span = max(longest, 1)
    step = (width - 2 * pad) / max(len(finished) - 1, 1)
    dots: list[tuple[float, float, str]] = []
    for index, (run, duration) in enumerate(finished):
        x = pad + index * step if len(finished) > 1 else width / 2
        y = height - pad - (height - 2 * pad) * (int(duration or 0) / span)
        dots.append((round(x, 1), round(y, 1), run.outcome))
    points = " ".join(f"{x},{y}" for x, y, _outcome in dots)
    return Sparkline(
        points=points, dots=dots, width=width, height=height, longest_ms=longest, shortest_ms=shortest,
        count=len(finished),
    )  # fmt: skip


@dataclass(frozen=True, kw_only=True, slots=True)
class StripCell:
    x: int
    run: RunItem


def strip(runs: list[RunItem]) -> tuple[list[StripCell], int]:
    """The success/failure strip, oldest left: one cell per run and the SVG's width."""
    ordered = list(reversed(runs))
    cells = [StripCell(x=index * (STRIP_CELL + STRIP_GAP), run=run) for index, run in enumerate(ordered)]
    width = max(len(ordered) * (STRIP_CELL + STRIP_GAP) - STRIP_GAP, 1)
    return cells, width


def tally(runs: list[RunItem]) -> dict[str, int]:
    """How many of ``runs`` succeeded, failed (or timed out), or neither."""
    counts = {"ok": 0, "bad": 0, "other": 0}
    for run in runs:
        counts[run.outcome] += 1
    return counts
