"""One validation path for notification rules, shared by the admin form, the API and YAML.

``validate(data, instance=None)`` reads the fields a door received (a partial update: only those),
checks each and returns an unsaved ``NotificationRule`` with them applied, or raises
``ValidationError`` keyed by field, saying what is wrong and what is allowed. A scope names a
schedule by its name and a job by its key; both must exist when the rule is saved.

The secret is write-only: a door never shows it. A webhook rule saved without one gets one
generated (``GENERATED`` says so), which the door shows once, in the answer to that save.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

from orchestrator import constraints
from orchestrator.errors import ValidationError
from orchestrator.models import Channel, Job, NotificationEvent, NotificationRule
from scheduling.models import Schedule
from scheduling.surfaces.input_checks import Errors, blank, boolean, shown, unstorable

FIELDS = ("name", "description", "events", "schedule", "job", "tenant", "channel", "target", "secret", "enabled")
_LIMITS = {"name": 100, "description": 2000, "schedule": 200, "job": 200, "tenant": 100, "target": 2000, "secret": 200}
#: Set on a rule whose secret ``validate`` generated: the door shows it once.
GENERATED = "_generated_secret"


def validate(data: Mapping[str, Any], instance: NotificationRule | None = None) -> NotificationRule:
    """The rule as it would be saved, or ``ValidationError`` keyed by field (nothing is written)."""
    rule = NotificationRule(**{name: getattr(instance, name) for name in FIELDS}) if instance else NotificationRule()
    if instance is not None:
        rule.pk = instance.pk
        rule.created_at = instance.created_at
    errors = Errors()
    for name in data:
        if name not in FIELDS:
            errors.add(name, f"unknown field; the fields are: {', '.join(FIELDS)}")
    for name in ("name", "description", "schedule", "job", "tenant", "channel", "target", "secret"):
        if name in data:
            setattr(rule, name, _text(name, data[name], errors))
    if "events" in data:
        rule.events = _events(data["events"], errors)
    if "enabled" in data:
        rule.enabled = boolean("enabled", data["enabled"], errors)
    _check(rule, errors, creating=instance is None)
    if errors.found:
        raise ValidationError(errors.found)
    if rule.channel == Channel.WEBHOOK and not rule.secret:
        rule.secret = secrets.token_urlsafe(32)
        setattr(rule, GENERATED, rule.secret)
    return rule


def _text(name: str, value: Any, errors: Errors) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.add(name, f"must be text, not {shown(value)}")
        return ""
    problem = unstorable(value)
    if problem:
        errors.add(name, problem)
        return ""
    if len(value) > _LIMITS.get(name, 100):
        errors.add(name, f"must be at most {_LIMITS.get(name, 100)} characters (it has {len(value)})")
        return ""
    return value if name in ("secret", "description") else value.strip()


def _events(value: Any, errors: Errors) -> list[str]:
    allowed = ", ".join(NotificationEvent.values)
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        errors.add("events", f"must be a list of events ({allowed}), not {shown(value)}")
        return []
    found: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in NotificationEvent.values:
            errors.add("events", f"unknown event {shown(item)}; events: {allowed}")
        elif item not in found:
            found.append(item)
    return found


def _check(rule: NotificationRule, errors: Errors, *, creating: bool) -> None:
    if "name" not in errors.found:
        if blank(rule.name):
            errors.add("name", "is required")
        elif NotificationRule.objects.filter(name=rule.name).exclude(pk=rule.pk).exists():
            errors.add("name", constraints.unique_message(NotificationRule, ["name"]))  # the database's words too
    if not rule.events and "events" not in errors.found:
        errors.add("events", f"choose at least one of: {', '.join(NotificationEvent.values)}")
    if rule.channel not in Channel.values and "channel" not in errors.found:
        errors.add("channel", f"must be one of: {', '.join(Channel.values)}, not {shown(rule.channel)}")
    if rule.schedule and "schedule" not in errors.found and not Schedule.objects.filter(name=rule.schedule).exists():
        errors.add("schedule", f"no schedule named {shown(rule.schedule)} (name a schedule, or leave empty for all)")
    if rule.job and "job" not in errors.found and not Job.objects.filter(key=rule.job).exists():
        errors.add("job", f"no job {shown(rule.job)} (a job key, or leave empty for all)")
    if "target" not in errors.found:
        _check_target(rule, errors)


def _check_target(rule: NotificationRule, errors: Errors) -> None:
    if blank(rule.target):
        errors.add("target", "is required: the webhook's URL, or email addresses separated by commas")
    elif rule.channel == Channel.WEBHOOK:
        parts = urlsplit(rule.target)
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            port_ok = False
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or not port_ok
            or any(c.isspace() for c in rule.target)
        ):
            errors.add(
                "target", "must be an http:// or https:// URL with a host, e.g. https://hooks.example.com/ostinato"
            )
    elif rule.channel == Channel.EMAIL:
        for address in rule.addresses():
            try:
                validate_email(address)
            except DjangoValidationError:
                errors.add("target", f"{shown(address)} is not an email address")
