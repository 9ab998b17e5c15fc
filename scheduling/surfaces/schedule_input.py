"""One schedule input: the fields a schedule is given through, and how raw input becomes them, for every door.

The admin form, the schedules page, the API serializer and YAML sync all pass what they received
(strings from a form, JSON values from the API, YAML values) to ``clean``, which types each value,
infers the kind, reads naive dates in the schedule's own zone and looks the job and directive up,
with one wording for every problem. What the values must satisfy together is the model's
(``Schedule.clean``, run by each door's ``full_clean``), so the answers are the same everywhere.

Rules every door shares:

* ``kind`` may be left out: it is the kind whose field is given (``cron``, ``interval_seconds`` or
  ``run_at``); two of them without a ``kind`` is ambiguous. A timing field that does not apply to
  the kind is refused, not ignored; on an edit that changes the kind, the old kind's field is
  cleared.
* A date and time without an offset is a wall time in the schedule's time zone; one that does not
  exist there (the clocks go forward) is refused, one that happens twice means the first.
* A one-off's ``run_at`` must be in the future when it is set.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError as DjangoValidationError

from orchestrator import constraints, registry
from orchestrator.errors import UnknownJobError, ValidationError
from orchestrator.models import Directive, Job
from scheduling.core import timing
from scheduling.core.policies import MisfirePolicy, OverlapPolicy
from scheduling.core.timing import Kind
from scheduling.models import Calendar, Schedule
from scheduling.surfaces import calendar_input
from scheduling.surfaces.input_checks import Errors as _Errors
from scheduling.surfaces.input_checks import blank as _blank
from scheduling.surfaces.input_checks import boolean as _boolean
from scheduling.surfaces.input_checks import shown, unstorable, year_problem
from scheduling.surfaces.input_checks import whole_number as _whole_number

#: Every field a schedule is given through, at every door, in the order forms show them.
FIELDS = (
    "name",
    "description",
    "job",
    "directive",
    "params",
    "tenant",
    "enabled",
    "kind",
    "cron",
    "interval_seconds",
    "run_at",
    "timezone",
    "start_at",
    "end_at",
    "jitter_seconds",
    "overlap_policy",
    "misfire_policy",
    "misfire_grace_seconds",
    "max_concurrency",
    "pause_after_failures",
    "remaining_runs",
    "deadline_seconds",
    "calendars",
)
#: Whole numbers a schedule may leave empty (no limit, never, unlimited, no deadline).
OPTIONAL_NUMBERS = ("max_concurrency", "pause_after_failures", "remaining_runs", "deadline_seconds")
_A_KIND = {Kind.CRON: "a cron schedule", Kind.INTERVAL: "an interval schedule", Kind.ONCE: "a one-off schedule"}
#: The field that defines each kind's fire times.
KIND_FIELD = {Kind.CRON: "cron", Kind.INTERVAL: "interval_seconds", Kind.ONCE: "run_at"}
DATETIME_FIELDS = ("run_at", "start_at", "end_at")
TEXT_FIELDS = ("name", "description", "tenant", "cron", "timezone")
#: The largest ``params`` object accepted, serialised as JSON.
MAX_PARAMS_BYTES = 64 * 1024
REQUIRED = {
    "name": "is required: the schedule's unique name",
    "job": "is required: the key of a registered job, e.g. noop",
}


@dataclass(kw_only=True)
class References:
    """The jobs, directives and calendars many inputs name, read once (a YAML sync of thousands); None: per input."""

    jobs: dict[str, Job]
    directives: dict[str, Directive]
    calendars: dict[str, Calendar] | None = None
    _known: str | None = None

    @classmethod
    def read(
        cls, job_keys: Iterable[Any], directive_names: Iterable[Any], calendar_names: Iterable[Any] = ()
    ) -> References:
        keys = {key for key in job_keys if isinstance(key, str)}
        names = {name for name in directive_names if isinstance(name, str)}
        return cls(
            jobs={job.key: job for job in Job.objects.filter(key__in=keys)},
            directives={d.name: d for d in Directive.objects.filter(name__in=names).select_related("job")},
            calendars=calendar_input.by_name(calendar_names),
        )

    def known_jobs(self) -> str:
        if self._known is None:
            self._known = _known_jobs()
        return self._known


def _known_jobs() -> str:
    return ", ".join(Job.objects.order_by("key").values_list("key", flat=True)) or "(none)"


def validate(raw: Mapping[str, Any], *, instance: Schedule | None, now: datetime, unique_name: bool = True) -> Schedule:
    """The schedule ``raw`` makes (a new one, or a copy of ``instance`` with the changes), validated.

    The one validation path of every door: ``clean`` types the input, the model's ``full_clean``
    checks the result (without the fields the input got wrong, so each problem is told once), and
    ``ValidationError`` carries every field's problems. Nothing is saved: the caller saves the
    schedule returned with ``calendar_input.save`` (the calendars it was given come after the row).
    """
    values, errors = clean_partially(raw, instance=instance, now=now, unique_name=unique_name)
    candidate = copy.copy(instance) if instance is not None else Schedule()
    if "calendars" in values:
        calendar_input.remember(candidate, values.pop("calendars"))
    for name, value in values.items():
        setattr(candidate, name, value)
    try:
        candidate.full_clean(exclude=list(errors), validate_unique=False)
    except DjangoValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, messages)
    if errors:
        raise ValidationError(errors)
    return candidate


def clean(
    raw: Mapping[str, Any],
    *,
    instance: Schedule | None,
    now: datetime,
    unique_name: bool = True,
    whole: bool = False,
    references: References | None = None,
) -> dict[str, Any]:
    """The schedule field values ``raw`` gives, typed; raises ``ValidationError`` keyed by field.

    ``raw`` holds only what the door received (a partial update holds the changed fields);
    ``instance`` is the schedule being edited (None: a new one). ``unique_name``: refuse a name
    another schedule has (YAML sync updates that schedule instead). The values returned are set
    on the instance by the door, which then runs ``full_clean`` (the model's rules); a door stops
    at these errors, so each problem is reported once.
    """
    values, errors = clean_partially(
        raw, instance=instance, now=now, unique_name=unique_name, whole=whole, references=references
    )
    if errors:
        raise ValidationError(errors)
    return values


def clean_partially(
    raw: Mapping[str, Any],
    *,
    instance: Schedule | None,
    now: datetime,
    unique_name: bool = True,
    whole: bool = False,
    references: References | None = None,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """``clean``'s values for the fields that are right, and the errors of the others (the live preview).

    ``whole``: ``raw`` is the whole truth about the schedule (YAML sync), not changes to
    ``instance``: the kind is never taken from the instance and its other timing fields are
    cleared; ``instance`` (the schedule of that name, if any) only tells whether a one-off's time
    changed. ``references``: jobs and directives read once for many inputs.
    """
    errors = _Errors()
    values: dict[str, Any] = {}
    base = None if whole else instance
    if base is None:
        for name in ("name", "job"):
            if name not in raw or _blank(raw[name]):
                errors.add(name, REQUIRED[name])
    for name in FIELDS:
        if name in raw and name not in ("kind", *DATETIME_FIELDS):
            _clean_field(name, raw[name], values, errors, references)
    kind = _kind(raw, base, errors)
    if kind is not None:
        values["kind"] = kind
        _clean_timing_fields(raw, kind, instance if whole else base, values, errors)
    zone = _zone(raw, base)
    for name in DATETIME_FIELDS:
        if name in raw and name not in errors.found:
            values[name] = _datetime(name, raw[name], zone, errors)
    if kind == Kind.ONCE and "run_at" in raw and values.get("run_at") is not None and "run_at" not in errors.found:
        changed = instance is None or instance.run_at != values["run_at"]
        if changed and values["run_at"] <= now:
            when = values["run_at"].isoformat()
            errors.add("run_at", f"is in the past ({when}): a one-off runs once, at a future time")
    if unique_name and values.get("name") and "name" not in errors.found:
        others = Schedule.objects.filter(name=values["name"])
        if instance is not None and instance.pk is not None:
            others = others.exclude(pk=instance.pk)
        if others.exists():
            errors.add("name", name_taken())
    return {name: value for name, value in values.items() if name not in errors.found}, errors.found


def name_taken() -> str:
    """The one wording for a name another schedule has: the database's own refusal's (``constraints``)."""
    return constraints.unique_message(Schedule, ["name"])


def _clean_field(name: str, value: Any, values: dict[str, Any], errors: _Errors, references: References | None) -> None:
    problem = unstorable(value)
    if problem:
        errors.add(name, problem)
    elif name in TEXT_FIELDS:
        if value is not None and not isinstance(value, str):
            hint = ' (quote it: cron: "0 2 * * *")' if name == "cron" else ""
            errors.add(name, f"must be text, not {shown(value)}{hint}")
        elif name == "name" and _blank(value):
            if name not in errors.found:
                errors.add(name, REQUIRED[name])
        else:
            values[name] = (value or "").strip() if name in ("name", "cron", "timezone") else (value or "")
    elif name == "job":
        values["job"] = _job(value, errors, references)
    elif name == "directive":
        values["directive"] = _directive(value, errors, references)
    elif name == "params":
        values["params"] = _params(value, errors)
    elif name == "enabled":
        values["enabled"] = _boolean(name, value, errors)
    elif name in ("overlap_policy", "misfire_policy"):
        choices = OverlapPolicy if name == "overlap_policy" else MisfirePolicy
        allowed = [member.value for member in choices]
        if value not in allowed:
            errors.add(name, f"must be one of {', '.join(allowed)}, not {shown(value)}")
        else:
            values[name] = value
    elif name in ("misfire_grace_seconds", "jitter_seconds", *OPTIONAL_NUMBERS):
        values[name] = _whole_number(name, value, errors, optional=name in OPTIONAL_NUMBERS)
    elif name == "calendars":
        values[name] = calendar_input.clean(value, errors, references.calendars if references else None)


def _kind(raw: Mapping[str, Any], instance: Schedule | None, errors: _Errors) -> Kind | None:
    """The kind given, else the one whose field is given, else the edited schedule's (None: an error)."""
    given = raw.get("kind")
    if not _blank(given):
        if given not in [kind.value for kind in Kind]:
            errors.add("kind", f"must be one of {', '.join(Kind)}, not {shown(given)}")
            return None
        return Kind(given)
    fields = [field for field in KIND_FIELD.values() if field in raw and not _blank(raw[field])]
    if len(fields) == 1:
        return next(kind for kind, field in KIND_FIELD.items() if field == fields[0])
    if len(fields) > 1:
        errors.add("kind", f"is ambiguous: {' and '.join(fields)} are both given; set kind")
        return None
    if instance is not None:
        return Kind(instance.kind)
    errors.add("kind", "is required: give cron, interval_seconds or run_at (or kind with its field)")
    return None


def _clean_timing_fields(
    raw: Mapping[str, Any], kind: Kind, instance: Schedule | None, values: dict[str, Any], errors: _Errors
) -> None:
    """The kind's own field; the other kinds' fields refused when given, cleared when the kind changes."""
    for other_kind, field in KIND_FIELD.items():
        if other_kind == kind:
            continue
        if field in raw and not _blank(raw[field]):
            errors.add(field, f"does not apply to {_A_KIND[kind]}; leave it empty or set kind")
        elif instance is not None or field in raw:
            values[field] = "" if field == "cron" else None  # what an old kind left behind goes
    if kind == Kind.INTERVAL and "interval_seconds" in raw:
        values["interval_seconds"] = _whole_number("interval_seconds", raw["interval_seconds"], errors, optional=True)


def _zone(raw: Mapping[str, Any], instance: Schedule | None) -> ZoneInfo | None:
    name = raw.get("timezone") if "timezone" in raw else (instance.timezone if instance is not None else "UTC")
    name = str(name or "").strip()
    return ZoneInfo(name) if name and timing.validate_timezone(name) is None else None


def _datetime(name: str, value: Any, zone: ZoneInfo | None, errors: _Errors) -> datetime | None:
    """An aware datetime: as given with an offset, else a wall time in ``zone`` (UTC when the zone is wrong)."""
    if _blank(value):
        return None
    moment = value
    if isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            errors.add(name, "is not a date and time: use YYYY-MM-DD HH:MM (in the schedule's time zone) or ISO 8601")
            return None
    if not isinstance(moment, datetime):
        errors.add(name, "is not a date and time: use YYYY-MM-DD HH:MM (in the schedule's time zone) or ISO 8601")
        return None
    problem = year_problem(moment.year)
    if problem:
        errors.add(name, problem)
        return None
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        return moment.astimezone(UTC)  # PostgreSQL refuses offsets past ±15:59 that ISO 8601 allows
    if zone is None:
        return moment.replace(tzinfo=UTC)  # the time zone's error is what needs fixing
    aware = moment.replace(tzinfo=zone)  # fold=0: an ambiguous wall time means its first pass
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment:
        errors.add(
            name, f"{moment:%Y-%m-%d %H:%M:%S} does not exist in {zone.key} (the clocks go forward then); "
            "pick a time outside the gap",
        )  # fmt: skip
        return None
    return aware


def _job(value: Any, errors: _Errors, references: References | None) -> Job | None:
    if isinstance(value, Job):
        found: Job | None = value
    elif not isinstance(value, str) or not value.strip():
        if "job" not in errors.found:
            errors.add("job", REQUIRED["job"] if _blank(value) else f"must be the key of a job, not {shown(value)}")
        return None
    elif references is not None:
        found = references.jobs.get(value.strip()) or registry.task_job(value.strip())
    else:
        found = registry.task_job(value.strip())  # the job's row; a host task's is made on first use
    if found is None:
        known = references.known_jobs() if references is not None else _known_jobs()
        errors.add("job", f"unknown job {shown(value)}; jobs in this deployment: {known}")
        return None
    try:
        registry.resolve(found.key, found.kind)
    except UnknownJobError as exc:
        errors.add(
            "job",
            f"job {found.key!r} has no code registered in this deployment; its runs would fail. "
            f"Registered jobs: {', '.join(exc.known) or '(none)'}",
        )
        return None
    return found


def _directive(value: Any, errors: _Errors, references: References | None) -> Directive | None:
    if isinstance(value, Directive) or _blank(value):
        return value or None
    if not isinstance(value, str):
        errors.add("directive", f"must be the name of a directive, not {shown(value)}")
        return None
    if references is not None:
        found = references.directives.get(value.strip())
    else:
        found = Directive.objects.select_related("job").filter(name=value.strip()).first()
    if found is None:
        errors.add("directive", f"unknown directive {shown(value)}")
    return found


def _params(value: Any, errors: _Errors) -> dict[str, Any]:
    """A JSON object (a form gives its text: a syntax error says where it is)."""
    if _blank(value):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            errors.add("params", f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
            return {}
        except (ValueError, RecursionError) as exc:  # a number past Python's digit limit; nesting past the stack
            problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            errors.add("params", f"is not valid JSON: {problem}")
            return {}
    if not isinstance(value, dict):
        kind = "a list" if isinstance(value, list) else f"the {type(value).__name__} {json.dumps(value)}"
        errors.add("params", f'must be a JSON object, e.g. {{"path": "var/app.log"}}, not {kind}')
        return {}
    if len(json.dumps(value)) > MAX_PARAMS_BYTES:
        errors.add("params", f"must be at most {MAX_PARAMS_BYTES} bytes as JSON")
    return value
