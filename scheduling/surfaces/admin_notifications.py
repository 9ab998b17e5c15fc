"""Notification rules and their deliveries in the admin.

The rule form validates through ``notification_input`` (as the API and YAML do). The secret is a
password field that never renders its value: left empty on a change, the stored secret stays; left
empty on a new webhook rule, one is generated and shown once, in the message after saving. History
entries name the fields changed, never their values. "Send test" makes one delivery of a test
notification to each selected rule now and says how it went; deliveries are read-only.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from orchestrator.admin_helpers import RefusalsMixin, status_badge
from orchestrator.errors import ValidationError
from orchestrator.models import Notification, NotificationEvent, NotificationRule
from orchestrator.notification_delivery import send_test
from scheduling.surfaces import notification_input


class NotificationRuleForm(forms.ModelForm):  # type: ignore[type-arg]
    events = forms.MultipleChoiceField(
        choices=NotificationEvent.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Signs each webhook body (X-Ostinato-Signature: sha256=…). Never shown again after saving: "
        "leave empty to keep the current one (a new webhook rule left empty gets one, shown once).",
    )

    class Meta:
        model = NotificationRule
        fields = ("name", "description", "enabled", "events", "schedule", "job", "tenant", "channel", "target")
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        data = {name: cleaned.get(name) for name in notification_input.FIELDS if name in cleaned}
        data["events"] = list(cleaned.get("events") or [])
        if not cleaned.get("secret"):
            data.pop("secret", None)  # empty: keep the stored one
        existing = self.instance if self.instance.pk else None
        try:
            self.validated = notification_input.validate(data, existing)
        except ValidationError as exc:
            for name, problems in exc.errors.items():
                for problem in problems:
                    self.add_error(name if name in self.fields else None, problem)
        return cleaned

    def _post_clean(self) -> None:
        """The model's own checks are ``notification_input``'s (run in ``clean``)."""


@admin.register(NotificationRule)
class NotificationRuleAdmin(RefusalsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = NotificationRuleForm
    list_display = ("name", "enabled", "events_column", "scope_column", "channel", "target_column", "secret_column")
    list_filter = ("enabled", "channel")
    search_fields = ("name", "description", "schedule", "job", "tenant")
    readonly_fields = ("created_at", "updated_at")
    actions = ["send_test"]
    fieldsets = (
        (None, {"fields": ("name", "description", "enabled", "events")}),
        ("Scope (empty: all)", {"fields": ("schedule", "job", "tenant")}),
        ("Where", {"fields": ("channel", "target", "secret")}),
        ("Times", {"fields": ("created_at", "updated_at")}),
    )

    def save_model(self, request: HttpRequest, obj: NotificationRule, form: Any, change: bool) -> None:
        validated: NotificationRule = form.validated
        for name in notification_input.FIELDS:
            setattr(obj, name, getattr(validated, name))
        super().save_model(request, obj, form, change)  # a name taken meanwhile: the form shows it
        generated = getattr(validated, notification_input.GENERATED, None)
        if generated:
            messages.warning(
                request,
                format_html(
                    "The webhook secret generated for {} is <code>{}</code>. Copy it now: it is never shown again.",
                    obj.name,
                    generated,
                ),
            )

    @admin.display(description="events")
    def events_column(self, obj: NotificationRule) -> str:
        return ", ".join(obj.events or [])

    @admin.display(description="scope")
    def scope_column(self, obj: NotificationRule) -> str:
        parts = [
            f"{label} {value}"
            for label, value in (("schedule", obj.schedule), ("job", obj.job), ("tenant", obj.tenant))
            if value
        ]
        return "; ".join(parts) or "all"

    @admin.display(description="target")
    def target_column(self, obj: NotificationRule) -> str:
        return obj.target if len(obj.target) <= 60 else obj.target[:59] + "…"

    @admin.display(description="secret")
    def secret_column(self, obj: NotificationRule) -> str:
        return "set" if obj.secret else "—"

    @admin.action(description="Send a test notification now")
    def send_test(self, request: HttpRequest, queryset: QuerySet[NotificationRule]) -> None:
        for rule in queryset:
            row = send_test(rule, now=timezone.now())
            if row.status == "sent":
                messages.success(request, f"{rule.name}: test notification sent (delivery {row.pk}).")
            else:
                messages.error(request, f"{rule.name}: test notification not delivered: {row.last_error}")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "created_at", "rule", "event", "schedule", "run_id", "status_column", "attempts", "error")
    list_filter = ("status", "event")
    search_fields = ("schedule", "subject", "rule__name")
    list_select_related = ("rule",)
    readonly_fields = (
        "rule",
        "event",
        "subject",
        "run_id",
        "schedule",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "next_attempt_at",
        "sent_at",
        "payload_shown",
    )
    exclude = ("payload", "published_at", "lease_until", "run")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="status")
    def status_column(self, obj: Notification) -> SafeString:
        return status_badge(obj.status)

    @admin.display(description="last error")
    def error(self, obj: Notification) -> str:
        return obj.last_error[:80]

    @admin.display(description="payload")
    def payload_shown(self, obj: Notification) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))
