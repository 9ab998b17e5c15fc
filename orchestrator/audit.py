"""The audit trail: every change to a registered model, at every door, as an ``AuditEntry``.

Recording happens at the model layer so that no door can forget it: registering a model
(``register(Model)``, one line in an app's ``ready``) connects its ``post_init`` (a snapshot of the
values as loaded), ``post_save`` (the fields that differ from the snapshot), ``post_delete`` and
the ``m2m_changed`` of its many-to-many fields. Paths that bypass ``Model.save`` (``bulk_create``,
``QuerySet.update``) call ``record_saved`` or ``record`` themselves.

Who acted and through which door is a context variable each door sets: ``acting(actor, door)``
around a command or a sync, ``AuditMiddleware`` for web requests (the user is read when an entry
is written, so an API token's user counts), the API views for their requests. Without one, an
entry says ``unknown``/``other``; ``fallback(actor, door)`` names the actor only where no door did
(the beat's automatic pauses and resumes).

Values are stored JSON-safe (times as ISO 8601 UTC, foreign keys as the related row's key), and
never a secret: a field named like one (``SECRET_NAMES``) or registered as one is recorded as
changed, with ``"(hidden)"`` for both values. Fields that are not editable (``next_run_at``,
``updated_at``, counters the beat keeps) are left out: they are consequences, not changes.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_init, post_save
from django.utils import timezone

from orchestrator.models import AuditEntry

#: Field names whose values are never stored, whatever model registers them.
SECRET_NAMES = frozenset({"secret", "password", "token", "api_key", "secret_key", "webhook_secret"})
HIDDEN = "(hidden)"
UNKNOWN_ACTOR, OTHER_DOOR = "unknown", "other"

#: The doors (``AuditEntry.door``).
ADMIN, WEB, API, YAML, IMPORT, CLI, BEAT = "admin", "web", "api", "yaml", "import", "cli", "beat"

Classify = Callable[[str, Mapping[str, Mapping[str, Any]]], str]


@dataclass
class Acting:
    """Who acts through which door; ``actor`` a name, or a function of the changed object (a YAML row's file).

    ``user``: a function returning the request's user, read when an entry is written (the user a
    token authenticated is known only once the API view ran its authentication).
    """

    door: str
    actor: str | Callable[[models.Model], str] = UNKNOWN_ACTOR
    user: Callable[[], Any] | None = None
    #: The entry written last per object in this context: a many-to-many change right after a save
    #: (a form's ``save_m2m``) joins it instead of making an entry of its own.
    recent: dict[tuple[str, str], AuditEntry] = field(default_factory=dict)

    def who(self, obj: models.Model) -> str:
        if self.user is not None:
            name = username(self.user())
            if name:
                return name
        return self.actor(obj) if callable(self.actor) else self.actor


def username(user: Any) -> str:
    """A user's username; empty for none or an anonymous user."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    return str(user.get_username())


_acting: ContextVar[Acting | None] = ContextVar("ostinato_audit_acting", default=None)


@contextmanager
def acting(actor: str | Callable[[models.Model], str], door: str) -> Iterator[Acting]:
    """Changes made inside are recorded as made by ``actor`` through ``door``."""
    context = Acting(door=door, actor=actor)
    token = _acting.set(context)
    try:
        yield context
    finally:
        _acting.reset(token)


@contextmanager
def acting_for(user: Callable[[], Any], door: str) -> Iterator[Acting]:
    """Changes made inside are recorded as made by the user ``user()`` returns then (a web request's)."""
    context = Acting(door=door, user=user)
    token = _acting.set(context)
    try:
        yield context
    finally:
        _acting.reset(token)


@contextmanager
def fallback(actor: str, door: str) -> Iterator[None]:
    """``acting(actor, door)`` unless a door already said who acts (a beat's own pause, not a person's)."""
    if _acting.get() is not None:
        yield
        return
    with acting(actor, door):
        yield


_suspended: ContextVar[bool] = ContextVar("ostinato_audit_suspended", default=False)


@contextmanager
def suspended() -> Iterator[None]:
    """Record nothing inside (a ``migrate`` to a state before the audit table exists)."""
    token = _suspended.set(True)
    try:
        yield
    finally:
        _suspended.reset(token)


def current() -> Acting | None:
    return _acting.get()


# --- registration ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Registration:
    label: str
    fields: tuple[models.Field[Any, Any], ...]
    secret: frozenset[str]
    classify: Classify | None


_registered: dict[type[models.Model], Registration] = {}


def register(
    model: type[models.Model],
    *,
    exclude: Iterable[str] = (),
    secret: Iterable[str] = (),
    classify: Classify | None = None,
) -> None:
    """Audit every change to ``model``: creations, edits, deletions and many-to-many changes.

    ``exclude``: editable fields not worth an entry; ``secret``: fields whose values are never
    stored (besides ``SECRET_NAMES``); ``classify(action, changes)`` names an edit more precisely
    (``paused`` rather than ``changed``). Idempotent.
    """
    if model in _registered:
        return
    skipped = set(exclude)
    fields = tuple(
        f
        for f in model._meta.concrete_fields
        if f.editable and not f.primary_key and f.name not in skipped and isinstance(f, models.Field)
    )
    _registered[model] = Registration(
        label=model._meta.label_lower,
        fields=fields,
        secret=frozenset(secret) | SECRET_NAMES,
        classify=classify,
    )
    uid = f"ostinato-audit-{model._meta.label_lower}"
    post_init.connect(_loaded, sender=model, dispatch_uid=uid, weak=False)
    post_save.connect(_saved, sender=model, dispatch_uid=uid, weak=False)
    post_delete.connect(_deleted, sender=model, dispatch_uid=uid, weak=False)
    for m2m in model._meta.many_to_many:
        through = getattr(model, m2m.name).through
        m2m_changed.connect(_m2m_changed, sender=through, dispatch_uid=f"{uid}.{m2m.name}", weak=False)


def unregister(model: type[models.Model]) -> None:
    """Stop auditing ``model`` (tests that register a model of their own)."""
    if _registered.pop(model, None) is None:
        return
    uid = f"ostinato-audit-{model._meta.label_lower}"
    for signal in (post_init, post_save, post_delete):
        signal.disconnect(sender=model, dispatch_uid=uid)
    for m2m in model._meta.many_to_many:
        m2m_changed.disconnect(sender=getattr(model, m2m.name).through, dispatch_uid=f"{uid}.{m2m.name}")


def is_registered(model: type[models.Model]) -> bool:
    return model in _registered


def label(model: type[models.Model] | models.Model) -> str:
    return model._meta.label_lower


# --- values ------------------------------------------------------------------------------------


def json_value(value: Any) -> Any:
    """``value`` as JSON can hold it: times as ISO 8601 (UTC when aware), choices as their value."""
    if value is None or (isinstance(value, bool | int | float | str) and not isinstance(value, Enum)):
        return value
    if isinstance(value, Enum):
        return json_value(value.value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(item) for item in value]
    return str(value)


def _snapshot(instance: models.Model, registration: Registration) -> dict[str, Any]:
    values = instance.__dict__
    taken: dict[str, Any] = {}
    for f in registration.fields:
        if f.attname in values:
            value = values[f.attname]
            taken[f.name] = copy.deepcopy(value) if isinstance(value, dict | list) else value
    return taken


def _changes(before: Mapping[str, Any], after: Mapping[str, Any], secret: frozenset[str]) -> dict[str, dict[str, Any]]:
    changes: dict[str, dict[str, Any]] = {}
    for name in after.keys() | before.keys():
        old, new = json_value(before.get(name)), json_value(after.get(name))
        if old == new:
            continue
        if name in secret:
            changes[name] = {"before": HIDDEN if old not in (None, "") else old, "after": HIDDEN if new else new}
        else:
            changes[name] = {"before": old, "after": new}
    return changes


def _loaded(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    instance._audit_loaded = _snapshot(instance, _registered[sender])  # type: ignore[attr-defined]


def changes_since_loaded(instance: models.Model, *, created: bool = False) -> dict[str, dict[str, Any]]:
    """The audited fields whose values differ from those the instance was loaded with (all, when ``created``)."""
    registration = _registered[type(instance)]
    before = {} if created else getattr(instance, "_audit_loaded", {})
    after = _snapshot(instance, registration)
    if not created:
        after = {name: value for name, value in after.items() if name in before}
    return _changes(before, after, registration.secret)


def _action(registration: Registration, action: str, changes: Mapping[str, Mapping[str, Any]]) -> str:
    return registration.classify(action, changes) if registration.classify is not None else action


# --- writing entries ---------------------------------------------------------------------------


def _entry(obj: models.Model, action: str, changes: dict[str, Any], at: datetime | None = None) -> AuditEntry:
    context = _acting.get()
    return AuditEntry(
        model=label(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        actor=(context.who(obj) if context is not None else UNKNOWN_ACTOR)[:200],
        door=context.door if context is not None else OTHER_DOOR,
        action=action,
        changes=changes,
        at=at or timezone.now(),
    )


def _remember(entries: Sequence[AuditEntry]) -> None:
    context = _acting.get()
    if context is not None:
        for entry in entries:
            context.recent[(entry.model, entry.object_id)] = entry


def record(obj: models.Model, action: str, changes: dict[str, Any], *, at: datetime | None = None) -> AuditEntry:
    """Write one entry for ``obj`` (a path that bypassed ``save``); ``changes`` as ``{field: {before, after}}``."""
    entry = _entry(obj, action, changes, at)
    if not _suspended.get():
        entry.save(using=obj._state.db)
        _remember([entry])
    return entry


def record_saved(objs: Sequence[models.Model], *, created: Iterable[models.Model] = ()) -> list[AuditEntry]:
    """Entries for rows written without ``save`` (``bulk_create``, ``bulk_update``): one ``INSERT`` per 500.

    ``created``: those of ``objs`` that were inserted. Rows without a change get no entry; each
    row's snapshot is renewed, as after ``save``.
    """
    new = {id(obj) for obj in created}
    entries = []
    for obj in objs:
        registration = _registered[type(obj)]
        is_new = id(obj) in new
        changes = changes_since_loaded(obj, created=is_new)
        obj._audit_loaded = _snapshot(obj, registration)  # type: ignore[attr-defined]
        if changes or is_new:
            entries.append(_entry(obj, _action(registration, "created" if is_new else "changed", changes), changes))
    if entries and not _suspended.get():
        AuditEntry.objects.using(objs[0]._state.db).bulk_create(entries, batch_size=500)
        _remember(entries)
    return entries


def update(queryset: models.QuerySet[Any], **values: Any) -> int:
    """``queryset.update(**values)`` with an entry for each row it changed (one more query to read them)."""
    rows = list(queryset)
    if not rows:
        return 0
    count = queryset.model._default_manager.filter(pk__in=[row.pk for row in rows]).update(**values)
    for row in rows:
        for name, value in values.items():
            setattr(row, name, value)
    record_saved(rows)
    return int(count)


def _saved(sender: type[models.Model], instance: models.Model, created: bool, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return  # loaddata: not a change anyone made
    registration = _registered[sender]
    changes = changes_since_loaded(instance, created=created)
    instance._audit_loaded = _snapshot(instance, registration)  # type: ignore[attr-defined]
    if changes or created:
        record(instance, _action(registration, "created" if created else "changed", changes), changes)


def _deleted(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    registration = _registered[sender]
    before = _snapshot(instance, registration)
    changes = _changes(before, {}, registration.secret)
    for m2m in sender._meta.many_to_many:
        cached = getattr(instance, "_prefetched_objects_cache", {}).get(m2m.name)
        if cached is not None:
            changes[m2m.name] = {"before": sorted(str(item) for item in cached), "after": None}
    record(instance, "deleted", changes)


def _m2m_changed(sender: Any, instance: models.Model, action: str, reverse: bool, **kwargs: Any) -> None:
    if reverse or type(instance) not in _registered:
        return  # changed from the other side (a calendar's schedules): recorded on neither
    name = next(f.name for f in type(instance)._meta.many_to_many if getattr(type(instance), f.name).through is sender)
    if action.startswith("pre_"):
        pending = instance.__dict__.setdefault("_audit_m2m_before", {})
        pending.setdefault(name, _related_names(instance, name))
        return
    before = instance.__dict__.get("_audit_m2m_before", {}).pop(name, None)
    if before is None:
        return
    after = _related_names(instance, name)
    if before == after:
        return
    context = _acting.get()
    joined = context.recent.get((label(instance), str(instance.pk))) if context is not None else None
    if joined is not None and joined.pk is not None:
        earlier = joined.changes.get(name, {}).get("before", before)
        joined.changes = {**joined.changes, name: {"before": earlier, "after": after}}
        AuditEntry.objects.using(instance._state.db).filter(pk=joined.pk).update(changes=joined.changes)
        return
    record(instance, "changed", {name: {"before": before, "after": after}})


def _related_names(instance: models.Model, name: str) -> list[str]:
    return sorted(str(item) for item in getattr(instance, name).all())


# --- reading -----------------------------------------------------------------------------------


def entries_for(obj_or_model: models.Model | type[models.Model], object_id: Any = None) -> models.QuerySet[AuditEntry]:
    """A row's entries, newest first (one indexed query)."""
    pk = object_id if object_id is not None else getattr(obj_or_model, "pk", None)
    return AuditEntry.objects.filter(model=label(obj_or_model), object_id=str(pk)).order_by("-at", "-id")


def audit_for(obj: models.Model, limit: int = 20) -> list[dict[str, Any]]:
    """A row's last ``limit`` entries, newest first, as the API shows them (for the schedule's page)."""
    return [entry.as_dict() for entry in entries_for(obj)[:limit]]
