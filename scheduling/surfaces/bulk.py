"""Validating and saving many schedules at once (a YAML sync of thousands): the same errors and rows as one by one.

One by one, a schedule costs up to eight queries before it is written: Django's ``full_clean``
asks whether each foreign key's row exists, and runs one ``SELECT ... WHERE COALESCE(condition,
true)`` per check constraint; then ``save`` inserts it (and, with jitter, updates it again).
Syncing 10,000 entries spent most of its ~100 s on those round trips. Here:

* ``full_clean`` skips the existence query for the foreign keys whose rows the caller has just
  read, and decides a check constraint in Python when that is certain to agree with the database:
  every value it compares is present and plain (a string, an integer, an aware datetime), so
  SQL's three-valued logic cannot differ from Python's. Anything else (a NULL under a negation, a
  lookup or expression it does not know, another database than PostgreSQL) goes to Django's own
  query, and a violated constraint is always reported by Django, so the errors are Django's.
* ``save_all`` writes what ``Schedule.save`` would, with one ``INSERT`` per 500 new rows and one
  ``UPDATE`` per 500 changed rows that write the same fields (``bulk_update`` off PostgreSQL).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError, connection, router
from django.db.models import CheckConstraint, F, Field, Model, Q
from django.db.models.constants import LOOKUP_SEP

from orchestrator import audit, db
from scheduling.models import Schedule

#: Rows per statement when ``save_all`` inserts or updates many schedules.
SAVE_BATCH = 500
#: A column type's length, left out of the array types ``_update_batch`` binds.
_LENGTH = re.compile(r"\(\d+\)$")

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "exact": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


class _Undecided(Exception):
    """Python cannot be sure to agree with the database here: ask the database."""


def full_clean(schedule: Schedule, *, existing_references: Collection[str] = ()) -> None:
    """``schedule.full_clean(validate_unique=False)``: the same ``ValidationError``, without most of its queries.

    ``existing_references``: foreign keys (``job``, ``directive``) set to rows the caller has just
    read from the database, so their existence is not asked again per row. Fields with errors are
    left out of the constraint checks, as Django does.
    """
    if not db.is_postgres():
        schedule.full_clean(validate_unique=False)
        return
    errors: dict[str, Any] = {}
    try:
        schedule.clean_fields(exclude=set(existing_references))
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    try:
        schedule.clean()
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    failed = {name for name in errors if name != NON_FIELD_ERRORS}
    try:
        _validate_constraints(schedule, exclude=failed)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)


def _validate_constraints(schedule: Schedule, *, exclude: set[str]) -> None:
    """``Model.validate_constraints``, skipping the check constraints Python proves hold."""
    using = router.db_for_write(Schedule, instance=schedule)
    errors: dict[str, Any] = {}
    for model, constraints in schedule.get_constraints():
        for constraint in constraints:
            condition = constraint.condition if isinstance(constraint, CheckConstraint) else None
            if isinstance(condition, Q) and _proven(condition, schedule, exclude):
                continue
            try:
                _ask_database(constraint, model, schedule, exclude=exclude, using=using)
            except ValidationError as exc:
                fields: Sequence[str] = getattr(constraint, "fields", ())
                if getattr(exc, "code", None) == "unique" and len(fields) == 1:
                    errors.setdefault(fields[0], []).append(exc)
                else:
                    errors = exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)


def _ask_database(constraint: Any, model: type[Model], schedule: Schedule, **options: Any) -> None:
    """Django's own check of one constraint (``BaseConstraint.validate``; a query for a check constraint)."""
    constraint.validate(model, schedule, **options)


def _proven(condition: Q, schedule: Schedule, exclude: set[str]) -> bool:
    """Whether ``condition`` certainly passes Django's check (``COALESCE(condition, true)``) for ``schedule``.

    A constraint naming a field that failed validation passes in Django (it is skipped): so here.
    """
    try:
        referenced = _REFERENCED.get(id(condition))
        if referenced is None:
            referenced = _REFERENCED[id(condition)] = frozenset(_referenced(condition))
        if referenced & exclude:
            return True
        if not referenced <= _FIELDS.keys():
            return False
        values = {name: getattr(schedule, _FIELDS[name].attname) for name in referenced}
        return _evaluate(condition, values) is not False
    except _Undecided:
        return False


#: The fields each constraint's condition names, by the condition's identity (they live on the model's Meta).
_REFERENCED: dict[int, frozenset[str]] = {}
_FIELDS = {field.name: field for field in Schedule._meta.concrete_fields}


def _referenced(condition: Q) -> set[str]:
    names: set[str] = set()
    for child in condition.children:
        if isinstance(child, Q):
            names |= _referenced(child)
        elif isinstance(child, tuple) and len(child) == 2:
            names.add(str(child[0]).split(LOOKUP_SEP, 1)[0])
            if isinstance(child[1], F):
                names.add(child[1].name)
        else:
            raise _Undecided
    return names


def _evaluate(condition: Q, values: Mapping[str, Any]) -> bool | None:
    """SQL's three-valued logic (``None`` is NULL), or ``_Undecided``.

    AND and OR decide as soon as one side does (``FALSE AND x``, ``TRUE OR x``), whatever the
    other side is. A negation over NULL is left undecided: Django compiles ``~Q(...)`` on a
    nullable column with extra ``IS NOT NULL`` terms.
    """
    if not condition.children:
        raise _Undecided
    results: list[bool | None] = []
    undecided = False
    for child in condition.children:
        try:
            results.append(_evaluate(child, values) if isinstance(child, Q) else _lookup(child, values))
        except _Undecided:
            undecided = True
    decisive = condition.connector != Q.AND  # True decides an OR, False decides an AND
    if decisive in results:
        result: bool | None = decisive
    elif undecided:
        raise _Undecided
    elif None in results:
        result = None
    else:
        result = not decisive
    if condition.negated:
        if result is None:
            raise _Undecided
        return not result
    return result


def _plain(value: Any) -> Any:
    """``value`` as the database compares it (a choices member as its string), or ``_Undecided``."""
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value
    if isinstance(value, str):
        return str.__str__(value)  # the characters a driver sends, whatever the subclass
    if type(value) is int:
        return value
    raise _Undecided


def _lookup(child: Any, values: Mapping[str, Any]) -> bool | None:
    path, wanted = child
    name, _, lookup = str(path).partition(LOOKUP_SEP)
    lookup = lookup or "exact"
    value = values[name]
    if lookup == "isnull" and type(wanted) is bool:
        return (value is None) == wanted
    compare = _COMPARISONS.get(lookup)
    if compare is None or LOOKUP_SEP in lookup:
        raise _Undecided
    if isinstance(wanted, F):
        wanted = values[wanted.name]
    elif wanted is None:
        raise _Undecided  # Q(x=None) is compiled to IS NULL
    if value is None or wanted is None:
        return None  # a comparison with NULL is NULL
    value, wanted = _plain(value), _plain(wanted)
    if type(value) is not type(wanted):
        raise _Undecided
    return compare(value, wanted)


def save_all(schedules: Sequence[Schedule], *, now: datetime, cleaned: bool = False) -> None:
    """``schedule.save(now=now)`` for each of ``schedules``, in a few statements instead of one or two each.

    The rows come out as saving them one by one leaves them: each schedule is validated by
    ``clean`` (all before anything is written; ``cleaned=True`` when the caller has just run
    ``full_clean`` on each and changed nothing since); a new one gets its next run (with jitter,
    seeded by the primary key its insert gave it), inserted in the given order; a stored one writes
    what ``save`` writes (``Schedule.edit_fields``), its next run only when ``needs_recompute``.
    No ``pre_save``/``post_save`` signals are sent: the audit entries they would have written are
    written here (``audit.record_saved``, one ``INSERT`` per 500 entries).
    Run it inside the transaction that locked the stored rows.
    """
    if not cleaned:
        for schedule in schedules:
            schedule.clean()
    adding = [schedule for schedule in schedules if schedule._state.adding]
    stored = [schedule for schedule in schedules if not schedule._state.adding]
    for schedule in adding:
        if not schedule.jitter_seconds:
            schedule.reschedule(now)
    Schedule.objects.bulk_create(adding, batch_size=SAVE_BATCH)
    jittered = [schedule for schedule in adding if schedule.jitter_seconds]
    for schedule in jittered:
        schedule.reschedule(now)  # the jitter is seeded by the primary key, as in save()
    _update(jittered, ["next_run_at", "due_at"])
    by_fields: dict[tuple[str, ...], list[Schedule]] = {}
    for schedule in stored:
        recompute = schedule.needs_recompute()
        fields = schedule.edit_fields(recompute)
        if recompute:
            schedule.reschedule(now)
            fields = sorted({*fields, "next_run_at", "due_at"})
        by_fields.setdefault(tuple(fields), []).append(schedule)
    for field_names, rows in by_fields.items():
        _update(rows, list(field_names))
    audit.record_saved(schedules, created=adding)  # what the save signals would have recorded
    for schedule in schedules:
        schedule._loaded = schedule._snapshot()  # as save() leaves it: a later save compares with these


def save_cursors(schedules: Sequence[Schedule], *, now: datetime) -> None:
    """Write each schedule's ``last_run_at`` (set by the caller) and its next run after it, in a few statements.

    For an import that learnt of a run the schedule's old scheduler made: an edit never writes the
    beat's cursor (``Schedule.edit_fields``), but a run that already happened elsewhere must not
    happen again here, and what fell due after it ran nowhere and must not be dropped, so the next
    run is the first occurrence after it, also when that has passed
    (``Schedule.continue_after_last_run``: the beat takes it up under the misfire policy). Stored or
    just inserted (``save_all``) rows alike. Run it inside the transaction that locked the rows.
    """
    for schedule in schedules:
        schedule.continue_after_last_run(now)
    _update(schedules, ["last_run_at", "next_run_at", "due_at"])


def _update(rows: Sequence[Schedule], fields: list[str]) -> None:
    """Write ``fields`` of ``rows`` as ``save(update_fields=fields)`` would: each field's ``pre_save`` first
    (``updated_at``'s ``auto_now``), and an error when a row is gone.

    On PostgreSQL one ``UPDATE ... FROM unnest(column arrays)`` per batch, bound on the server (a
    ``VALUES`` list of 500 rows by 20 fields spent more in psycopg's parsing of its own SQL text
    than in PostgreSQL); elsewhere ``bulk_update``, whose ``CASE WHEN`` per row and field cost
    ~0.4 ms of Python a row for two fields.
    """
    if not rows:
        return
    columns = [Schedule._meta.get_field(name) for name in fields]
    for row in rows:
        for column in columns:
            setattr(row, column.attname, column.pre_save(row, False))  # type: ignore[union-attr]
    if db.is_postgres():
        concrete = [column for column in columns if isinstance(column, Field)]
        updated = sum(_update_batch(rows[i : i + SAVE_BATCH], concrete) for i in range(0, len(rows), SAVE_BATCH))
    else:
        updated = Schedule.objects.bulk_update(rows, fields, batch_size=SAVE_BATCH)
    if updated != len(rows):
        raise DatabaseError("Save with update_fields did not affect any rows.")


def _update_batch(rows: Sequence[Schedule], columns: Sequence[Field[Any, Any]]) -> int:
    """One ``UPDATE`` of ``columns`` for ``rows``, each column an array parameter; returns the rows it matched.

    The arrays are typed without a length (``varchar``, not ``varchar(200)``): an explicit cast would
    cut a long value short, where assigning it to the column refuses it, as a plain update does.
    """
    quote = connection.ops.quote_name
    key = Schedule._meta.get_field("id")
    every = [key, *columns]
    arrays = ", ".join(f"%b::{_LENGTH.sub('', field.db_type(connection) or 'text')}[]" for field in every)
    sql = (
        f"UPDATE {quote(Schedule._meta.db_table)} AS stored SET "  # noqa: S608 (quoted names, values bound)
        + ", ".join(f"{quote(field.column)} = given.{quote(field.column)}" for field in columns)
        + f" FROM unnest({arrays}) AS given({', '.join(quote(field.column) for field in every)})"
        + f" WHERE stored.{quote(key.column)} = given.{quote(key.column)} RETURNING stored.{quote(key.column)}"
    )
    params = [[field.get_db_prep_save(getattr(row, field.attname), connection) for row in rows] for field in every]
    return len(db.execute(sql, params, fetch=True))
