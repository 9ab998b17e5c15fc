"""The admin's History page of an audited model shows its audit trail: every change at every door.

Django's own history lists what was done in the admin; the audit trail (``orchestrator.audit``)
also holds the API's, the pages', YAML syncs', imports', the CLI's and the beat's changes, with
the fields before and after. Both are shown: the trail first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from orchestrator import audit
from orchestrator.models import AuditEntry

TEMPLATE = "admin/orchestrator/audit_history.html"
#: Entries shown on the History page (the API pages through all of them).
SHOWN = 200
#: Characters of a value shown before it is cut short.
VALUE_CHARS = 300


def shown_value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def rows(entries: list[AuditEntry]) -> list[dict[str, Any]]:
    """Entries as the History page lists them: each change as ``(field, before, after)`` in JSON."""
    return [
        {
            "at": audit.json_value(entry.at).replace("+00:00", "Z"),
            "actor": entry.actor,
            "door": entry.door,
            "action": entry.action,
            "changes": [
                (name, shown_value(change.get("before")), shown_value(change.get("after")))
                for name, change in sorted(entry.changes.items())
            ],
        }
        for entry in entries
    ]


def history_with_trail(
    model: type[Model],
    object_id: str,
    extra_context: dict[str, Any] | None,
    render: Callable[[dict[str, Any]], HttpResponse],
) -> HttpResponse:
    """A ModelAdmin's ``history_view`` (``render``, called with the context) with the audit trail on top.

    The entries are read only when the page is rendered: after Django checked the permission.
    """
    context = dict(extra_context or {})
    audited = audit.is_registered(model)
    if audited:
        context["audit_rows"] = lambda: rows(list(audit.entries_for(model, object_id)[:SHOWN]))
        context["audited"] = True
    response = render(context)
    if audited and isinstance(response, TemplateResponse):
        response.template_name = [TEMPLATE]  # not yet rendered: Django's page, the trail added on top
    return response


class AuditEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Every audit entry, read-only: what changed where, across schedules, jobs and calendars."""

    list_display = ("at", "object_repr", "model", "action", "actor", "door", "changed_fields")
    list_filter = ("door", "action", "model")
    search_fields = ("object_repr", "actor")
    date_hierarchy = None
    list_per_page = 100
    readonly_fields = ("at", "model", "object_id", "object_repr", "actor", "door", "action", "changes_shown")
    exclude = ("changes",)

    @admin.display(description="fields")
    def changed_fields(self, entry: AuditEntry) -> str:
        return ", ".join(sorted(entry.changes)) if isinstance(entry.changes, dict) else ""

    @admin.display(description="changes (before → after)")
    def changes_shown(self, entry: AuditEntry) -> str:
        changes = entry.changes if isinstance(entry.changes, dict) else {}
        return "; ".join(
            f"{name}: {shown_value(change.get('before'))} → {shown_value(change.get('after'))}"
            for name, change in sorted(changes.items())
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
