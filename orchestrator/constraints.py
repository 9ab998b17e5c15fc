"""Database constraints as field errors: the one mapping every door uses, in the same words.

Every door validates before it writes (``full_clean``), yet two requests can both pass validation
and then race: two creates of one name, an edit and a delete of one row. The database is then the
last line of defence, and its refusal (an ``IntegrityError``) must reach the user as what it is, an
error about a field, never as a 500. ``enforced()`` runs a write in a savepoint and turns a refusal
by any constraint of this project's tables into ``ConstraintError`` keyed by the field concerned;
the API, the admin, the schedules page and YAML sync all show it as they show their own errors.

The constraints are read from the database (PostgreSQL names a ``unique=True`` column's constraint
itself, and older migration histories name them differently); what a refusal says comes from:

* ``NAMED``: the models' ``Meta`` check constraints, by name, in the words of the validation that
  normally catches the same mistake first;
* unique columns and unique constraints: ``unique_message``, which ``Model.unique_error_message``
  answers too, so a form's own uniqueness check and the database's refusal read alike;
* positive-number fields (``PositiveIntegerField``'s check): ``must be 0 or more``;
* foreign keys: the row referred to was deleted meanwhile.

An edit racing a delete of its own row is the other half (``edited``): without it Django's save
finds no row to update and inserts one, bringing the deleted row back.

This module names the apps and constraints it covers as strings: it imports no model.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, models, router, transaction

from orchestrator.errors import ConstraintError, RowDeletedError

#: The apps whose tables are mapped (other apps' constraints are theirs to explain).
APPS = ("orchestrator", "scheduling")

#: ``Meta`` check constraints by name: the field a refusal names, and what it says.
NAMED: dict[str, tuple[str, str]] = {
    "schedule_interval_positive": (
        "interval_seconds",
        "is required for an interval schedule: a positive number of seconds",
    ),
    "schedule_once_run_at": ("run_at", "is required for a one-off schedule"),
    "schedule_cron_present": (
        "cron",
        "is required for a cron schedule, e.g. '*/5 * * * *' (5 fields) or '0 */5 * * * *' (6, seconds first)",
    ),
    "schedule_end_after_start": ("end_at", "must be after start_at"),
    "backfill_end_after_start": ("end", "must be after start"),
    "schedule_max_concurrency_positive": ("max_concurrency", "must be at least 1, or empty for no limit"),
    "job_timeout_positive": ("timeout_seconds", "must be at least 1 second"),
    "job_max_concurrency_positive": ("max_concurrency", "must be 1 or more, or empty for no limit"),
}
POSITIVE_MESSAGE = "must be 0 or more"
_POSITIVE_FIELDS = (models.PositiveIntegerField, models.PositiveSmallIntegerField, models.PositiveBigIntegerField)


@dataclass(frozen=True, kw_only=True)
class Rule:
    """What a refusal by one constraint means to the user: the field it names and what it says."""

    model: str
    field: str
    message: str


@dataclass(frozen=True, kw_only=True)
class Rules:
    """Every mapped constraint, by name and by ``(table, columns)`` (SQLite names only checks)."""

    by_name: dict[str, Rule]
    by_columns: dict[tuple[str, tuple[str, ...]], Rule]
    #: Constraints of the project's tables no rule explains (a test keeps this empty).
    unmapped: tuple[str, ...] = ()


def unique_message(model: type[models.Model], fields: Sequence[str]) -> str:
    """``another schedule already has this name; choose a name no other schedule has``."""
    what = " and ".join(fields)
    noun = str(model._meta.verbose_name)
    return f"another {noun} already has this {what}; choose a {what} no other {noun} has"


def unique_error(model: type[models.Model], fields: Sequence[str]) -> DjangoValidationError:
    """What ``Model.unique_error_message`` answers: the words of the database's own refusal."""
    return DjangoValidationError(unique_message(model, fields), code="unique")


def _models() -> list[type[models.Model]]:
    return [
        model
        for label in APPS
        if apps.is_installed(label)
        for model in apps.get_app_config(label).get_models()
        if model._meta.managed and not model._meta.proxy
    ]


def _rule(model: type[models.Model], name: str, info: dict[str, Any]) -> Rule | None:
    if info.get("primary_key"):
        return None  # never user input: the database assigns it
    by_column = {field.column: field for field in model._meta.local_concrete_fields}
    fields = [by_column[column] for column in info.get("columns") or () if column in by_column]
    label = model._meta.label
    if name in NAMED:
        field_name, message = NAMED[name]
        return Rule(model=label, field=field_name, message=message)
    if info.get("unique") and fields:
        names = [field.name for field in fields]
        return Rule(model=label, field=names[-1], message=unique_message(model, names))
    if info.get("foreign_key") and len(fields) == 1 and fields[0].related_model is not None:
        related = fields[0].related_model._meta.verbose_name  # type: ignore[union-attr]
        return Rule(
            model=label,
            field=fields[0].name,
            message=f"refers to a {related} that was deleted meanwhile; choose one that exists",
        )
    if info.get("check") and len(fields) == 1 and isinstance(fields[0], _POSITIVE_FIELDS):
        return Rule(model=label, field=fields[0].name, message=POSITIVE_MESSAGE)
    return None


def read_rules(using: str = DEFAULT_DB_ALIAS) -> Rules:
    """Every constraint the database enforces on the project's tables, with the rule explaining it.

    Constraints no rule explains are left out (a refusal by one stays an error); a test checks
    that there are none, so a constraint added later comes with its words.
    """
    connection = connections[using]
    by_name: dict[str, Rule] = {}
    by_columns: dict[tuple[str, tuple[str, ...]], Rule] = {}
    unmapped: list[str] = []
    with connection.cursor() as cursor:
        for model in _models():
            table = model._meta.db_table
            for name, info in connection.introspection.get_constraints(cursor, table).items():
                rule = _rule(model, name, info)
                if rule is not None:
                    by_name[name] = rule
                    if info.get("unique"):
                        by_columns[(table, tuple(info.get("columns") or ()))] = rule
                elif not info.get("primary_key") and (
                    info.get("unique") or info.get("check") or info.get("foreign_key")
                ):
                    unmapped.append(name)
    return Rules(by_name=by_name, by_columns=by_columns, unmapped=tuple(unmapped))


_cache: dict[str, Rules] = {}


def rules(using: str = DEFAULT_DB_ALIAS) -> Rules:
    """``read_rules``, read once per process and connection (the schema does not change under it)."""
    found = _cache.get(using)
    if found is None:
        found = _cache[using] = read_rules(using)
    return found


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")
_SQLITE_CHECK = re.compile(r"CHECK constraint failed: (\w+)$")


def _which(exc: IntegrityError, found: Rules) -> tuple[str, Rule] | None:
    diag = getattr(exc.__cause__, "diag", None)
    name = getattr(diag, "constraint_name", None)  # PostgreSQL (psycopg) names the constraint
    if name:
        rule = found.by_name.get(name)
        return (name, rule) if rule is not None else None
    text = str(exc)
    check = _SQLITE_CHECK.search(text)
    if check and check.group(1) in found.by_name:
        return check.group(1), found.by_name[check.group(1)]
    unique = _SQLITE_UNIQUE.search(text)
    if unique:
        qualified = [part.strip().split(".", 1) for part in unique.group(1).split(",")]
        if all(len(part) == 2 for part in qualified) and len({table for table, _ in qualified}) == 1:
            key = (qualified[0][0], tuple(column for _, column in qualified))
            rule = found.by_columns.get(key)
            if rule is not None:
                return f"unique {'.'.join(qualified[0])}", rule
    return None


def refusal(exc: IntegrityError, using: str = DEFAULT_DB_ALIAS) -> ConstraintError | None:
    """The field error ``exc`` stands for; None when it is no constraint of the project's tables.

    Call it once the failed transaction (or savepoint) is rolled back: it may read the schema.
    """
    found = _which(exc, rules(using))
    if found is None:
        return None
    name, rule = found
    return ConstraintError(name, {rule.field: [rule.message]})


@contextmanager
def enforced(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Run the block in a savepoint; a constraint's refusal becomes ``ConstraintError``, and none
    of the block's writes are kept ("nothing half-written").

    PostgreSQL checks foreign keys at commit (Django makes them deferrable); they are checked at the
    end of the block instead, so a row referred to and deleted meanwhile is reported here too.
    """
    try:
        with transaction.atomic(using=using):
            yield
            connection = connections[using]
            if connection.vendor == "postgresql":
                connection.check_constraints()
    except IntegrityError as exc:
        refused = refusal(exc, using)
        if refused is None:
            raise
        raise refused from exc


@contextmanager
def edited(instance: models.Model, save_options: dict[str, Any]) -> Iterator[bool]:
    """A model's save in a transaction that first locks its row when it is an edit; yields whether it is.

    A delete that came first (or is under way: the lock waits for it) makes the edit raise
    ``RowDeletedError``, which every door answers as "not found", as when the delete comes first.
    Without the lock Django's save finds no row to update and inserts one: the deleted row would be
    back. A delete that comes later waits for the edit to commit.
    """
    model = type(instance)
    using = save_options.get("using") or router.db_for_write(model, instance=instance)
    pk = model._meta.pk
    fresh = instance._state.adding and pk is not None and pk.has_default()  # Django inserts these outright
    updating = instance.pk is not None and not fresh and not save_options.get("force_insert")
    with transaction.atomic(using=using):
        if updating and not model._default_manager.using(using).select_for_update().filter(pk=instance.pk).exists():
            raise RowDeletedError(str(model._meta.verbose_name), instance.pk)
        yield updating


# Type checkers see the model base; at run time the mixin is a plain class before ``models.Model``.
if TYPE_CHECKING:
    _ModelBase = models.Model
else:
    _ModelBase = object


class LockedOnEdit(_ModelBase):
    """Model mixin: every ``save`` goes through ``edited``, so an edit of a row deleted meanwhile
    raises ``RowDeletedError`` instead of inserting the row again. List it before ``models.Model``."""

    def save(self, *args: Any, **kwargs: Any) -> None:
        with edited(self, kwargs):
            super().save(*args, **kwargs)
