"""Writing what an import mapped: ownership, the one schedule input, validation, and the writes in bulk.

Both imports (``celery_beat``, ``beat_schedule``) end here, inside their transaction, with the
schedules of the names they map locked (``lock_existing``). The rules:

* **Ownership.** A schedule of the same name made at another door (admin, API, YAML sync, the
  other import) is never taken over: the entry is skipped with that reason.
* **The fields an import owns** are those it maps (job, params, timing, bounds, and what its
  source says of ``enabled`` and ``description``). The rest (policies, jitter, limits, tenant,
  directive) are the operators': importing again leaves them as they are.
* **One validation path.** The values go through ``schedule_input.clean`` (``whole=True``: a timing
  field of another kind is cleared) and the model's rules (``bulk.full_clean``), as at every door;
  a refusal skips that entry with the field's message, and nothing of it is written.
* **Unchanged is not written.** An entry whose mapped values all match its schedule is neither
  validated again nor written (its job's code is still checked: ``mapping.Jobs``), so importing
  again costs a read and a comparison per row.
* **The last run.** A ``last_run_at`` later than the schedule's own (or a new schedule's) is
  written with the next run computed after it, even when that next run has passed
  (``bulk.save_cursors``): what already ran is not run again, and what fell due after it (the old
  beat stopped, the import and ours not yet started) is taken up by our beat under the misfire
  policy, not skipped unrecorded. An earlier one (the source stopped, this beat went on) changes
  nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError

from orchestrator import constraints
from orchestrator.models import Directive, Job
from scheduling.models import Schedule, ScheduleSource
from scheduling.surfaces import bulk, schedule_input
from scheduling.surfaces.imports.report import Action, Outcome


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """What one row or entry maps to: schedule input values (``job`` as its row), or why it is skipped."""

    name: str
    values: Mapping[str, Any] = field(default_factory=dict)
    #: Recorded on the schedule: where it was read from (and, for the imports' markers, in what state).
    source_path: str = ""
    last_run_at: datetime | None = None
    notes: tuple[str, ...] = ()
    #: Why it cannot be imported (empty: it can).
    skip: str = ""


def lock_existing(names: Iterable[str]) -> dict[str, Schedule]:
    """The schedules of these names, locked (``FOR UPDATE``) for the rest of the caller's transaction.

    Their job is not joined: the few jobs an import names are compared by id (``_same_as``), and
    read only for an update that shows a changed one.
    """
    rows = Schedule.objects.select_for_update(of=("self",)).filter(name__in=sorted(set(names)))
    return {row.name: row for row in rows}


def _reason(exc: DjangoValidationError) -> str:
    """A refusal's messages as one line: ``params: args and kwargs do not fit ...; cron: ...``."""
    if hasattr(exc, "error_dict"):
        return "; ".join(
            message if name == "__all__" else f"{name}: {message}"
            for name, messages in exc.message_dict.items()
            for message in messages
        )
    return "; ".join(exc.messages)


def _same_as(row: Schedule, name: str, new: Any) -> bool:
    """Whether the row's field ``name`` holds ``new`` (a job or directive by its key, without reading the row)."""
    if name in ("job", "directive"):
        return bool(getattr(row, f"{name}_id") == getattr(new, "pk", None))
    return bool(getattr(row, name) == new)


def _shown(value: Any) -> Any:
    if isinstance(value, Job):
        return value.key
    if isinstance(value, Directive):
        return value.name
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _matches(row: Schedule, candidate: Candidate) -> bool:
    """Whether ``row`` already is what ``candidate`` says, so there is nothing to validate or write.

    The candidate's values are typed already (a job row, numbers, aware datetimes), so equal
    values are what the schedule input would make of them; the timing fields of the other kinds
    must be empty, as ``whole`` input leaves them, and the last run no later than the row's own.
    """
    if row.source_path != candidate.source_path:
        return False
    later = candidate.last_run_at
    if later is not None and (row.last_run_at is None or later > row.last_run_at):
        return False
    kind = candidate.values.get("kind")
    for other_kind, name in schedule_input.KIND_FIELD.items():
        if other_kind != kind and getattr(row, name) not in (None, ""):
            return False
    return all(_same_as(row, name, value) for name, value in candidate.values.items())


_BY = {ScheduleSource.CELERY_BEAT: "the django-celery-beat import", ScheduleSource.CODE: "the beat_schedule sync"}


def _made_elsewhere(row: Schedule, source: ScheduleSource) -> str:
    return (
        f"a schedule named {row.name!r} was made in the {row.get_source_display()}, not by "
        f"{_BY.get(source, source)}; it is left as it is: rename one of them to bring this one over"
    )


def apply(
    candidates: Sequence[Candidate], existing: Mapping[str, Schedule], *, source: ScheduleSource, now: datetime
) -> list[Outcome]:
    """Create or update a schedule per candidate that maps; an outcome for each, in order.

    ``existing``: the schedules of the candidates' names, locked by ``lock_existing``. Raises
    ``ConstraintError`` when the database refuses the writes (a name another door took meanwhile):
    the caller's transaction is then not to be committed.
    """
    references = schedule_input.References(jobs={}, directives={})
    outcomes: list[Outcome] = []
    writes: list[Schedule] = []
    moves: list[Schedule] = []
    for candidate in candidates:
        row = existing.get(candidate.name)
        if candidate.skip or (row is not None and row.source != source):
            reason = candidate.skip or _made_elsewhere(row, source)  # type: ignore[arg-type]
            outcomes.append(Outcome(name=candidate.name, action="skipped", reason=reason, notes=candidate.notes))
            continue
        if row is not None and _matches(row, candidate):
            outcomes.append(Outcome(name=candidate.name, action="unchanged", notes=candidate.notes))
            continue
        try:
            values = schedule_input.clean(
                {"name": candidate.name, **candidate.values},
                instance=row,
                now=now,
                unique_name=False,
                whole=True,
                references=references,
            )
        except DjangoValidationError as exc:
            outcomes.append(Outcome(name=candidate.name, action="skipped", reason=_reason(exc), notes=candidate.notes))
            continue
        values.pop("name")
        later = candidate.last_run_at
        moved = later is not None and (row is None or row.last_run_at is None or later > row.last_run_at)
        changed: list[tuple[str, Any, Any]] = []
        if row is not None:
            changed = [
                (name, _shown(getattr(row, name)), _shown(value))
                for name, value in values.items()
                if not _same_as(row, name, value)
            ]
            if row.source_path != candidate.source_path:
                changed.append(("source_path", row.source_path, candidate.source_path))
            if not changed and not moved:
                outcomes.append(Outcome(name=candidate.name, action="unchanged", notes=candidate.notes))
                continue
        schedule = Schedule(name=candidate.name) if row is None else row
        if changed or row is None:
            for name, value in values.items():
                setattr(schedule, name, value)
            schedule.source = source
            schedule.source_path = candidate.source_path
            try:
                bulk.full_clean(schedule, existing_references=("job", "directive"))
            except DjangoValidationError as exc:
                outcomes.append(
                    Outcome(name=candidate.name, action="skipped", reason=_reason(exc), notes=candidate.notes)
                )
                continue
            writes.append(schedule)
        if moved:
            if row is not None:
                changed.append(("last_run_at", _shown(row.last_run_at), _shown(later)))
            schedule.last_run_at = later  # a new row's is inserted with it, then its cursor moved after it
            moves.append(schedule)
        action: Action = "created" if row is None else "updated"
        outcomes.append(Outcome(name=candidate.name, action=action, notes=candidate.notes, fields=tuple(changed)))
    with constraints.enforced():
        bulk.save_all(writes, now=now, cleaned=True)
        bulk.save_cursors(moves, now=now)
    return outcomes
