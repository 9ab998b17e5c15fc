"""Notification rules defined in schedules files: read, then created or updated after the schedules.

A file written as a mapping may hold ``notifications:``, a list of rules::

    notifications:
      - name: nightly-alerts
        events: [run_failed, run_timed_out, run_overdue]
        schedule: nightly-report          # optional scope: schedule, job, tenant
        target: https://hooks.example.com/ostinato
        secret_env: OSTINATO_HOOK_SECRET  # the secret is read from this environment variable
    schedules:
      - id: nightly-report
        ...

A secret never sits in a file (files go to version control): ``secret_env`` names the environment
variable the sync reads it from; a ``secret:`` key is refused. The rules are synced after the
schedules, in the sync's transaction, so a rule may scope itself to a schedule the same sync
creates. An entry is the whole truth about its rule (a field left out takes its default); a rule
no file defines any more is left as it is. Validation is ``notification_input``'s, as at every
door, each error naming the file, line, entry and field. A change report names a changed secret,
never its value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from orchestrator.errors import ValidationError
from orchestrator.models import NotificationRule
from scheduling.surfaces import notification_input, yaml_sections
from scheduling.surfaces.yaml_report import Change, Problem

FIELDS = ("description", "events", "schedule", "job", "tenant", "channel", "target", "enabled")
KEYS = ("name", *FIELDS, "secret_env")
DEFAULTS: dict[str, Any] = {
    "description": "",
    "schedule": "",
    "job": "",
    "tenant": "",
    "channel": "webhook",
    "enabled": True,
}
HIDDEN = "(hidden)"


def _refuse_secret(key: str) -> str | None:
    if key == "secret":
        return "a secret is never written in a file: put it in an environment variable, name it in secret_env"
    return None


def _check_secret_env(raw: Mapping[Any, Any]) -> list[tuple[str, str]]:
    env = raw.get("secret_env")
    if env is not None and (not isinstance(env, str) or not env.strip()):
        return [("secret_env", "must name an environment variable")]
    if isinstance(env, str) and env.strip() and env.strip() not in os.environ:
        return [("secret_env", f"the environment variable {env.strip()} is not set")]
    return []


SECTION = yaml_sections.Section(
    key="notifications",
    noun="notification rule",
    plural="rules",
    example="name: ..., events: ...",
    keys=KEYS,
    kept=(*FIELDS, "secret_env"),
    refuse_key=_refuse_secret,
    check_entry=_check_secret_env,
)
RuleEntry = yaml_sections.NamedEntry


def read(data: Any, node: yaml.Node, shown: str) -> tuple[list[RuleEntry], list[Problem]]:
    """The rule entries of a file's ``notifications:`` list, or the problems found in them."""
    return yaml_sections.read(SECTION, data, node, shown)


def duplicate_names(entries: Sequence[RuleEntry]) -> list[Problem]:
    return yaml_sections.duplicate_names(SECTION, entries)


def apply(entries: Sequence[RuleEntry]) -> tuple[list[Change], list[Problem]]:
    """Create or update each rule (inside the caller's transaction, after the schedules); nothing on a problem."""
    existing = {
        row.name: row for row in NotificationRule.objects.select_for_update().filter(name__in=[e.name for e in entries])
    }
    changes: list[Change] = []
    problems: list[Problem] = []
    writes: list[tuple[RuleEntry, NotificationRule]] = []
    for entry in entries:
        row = existing.get(entry.name)
        data: dict[str, Any] = {**DEFAULTS, **{key: entry.values[key] for key in FIELDS if key in entry.values}}
        data["name"] = entry.name
        env = entry.values.get("secret_env")
        if isinstance(env, str) and env.strip():
            data["secret"] = os.environ.get(env.strip(), "")
        elif row is None or not row.secret:
            data["secret"] = ""  # a webhook rule gets one generated (see notification_input); never reported
        try:
            candidate = notification_input.validate(data, row)
        except ValidationError as exc:
            for key, messages in exc.errors.items():
                problems += [
                    Problem(path=entry.path, line=entry.line, entry=entry.index, name=entry.name, field=key, message=m)
                    for m in messages
                ]
            continue
        label = f"notification rule {entry.name}"
        if row is None:
            changes.append(Change(action="create", name=label, path=entry.path))
            writes.append((entry, candidate))
            continue
        changed = [(name, getattr(row, name), getattr(candidate, name)) for name in FIELDS]
        fields = [item for item in changed if item[1] != item[2]]
        if row.secret != candidate.secret:
            fields.append(("secret", HIDDEN, HIDDEN))
        if fields:
            changes.append(Change(action="update", name=label, path=entry.path, fields=tuple(fields)))
            writes.append((entry, candidate))
        else:
            changes.append(Change(action="unchanged", name=label, path=entry.path))
    if not problems:
        problems += yaml_sections.save_each(writes)
    return changes, problems
