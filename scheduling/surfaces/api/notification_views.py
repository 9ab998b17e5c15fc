"""``/api/notification-rules/`` (CRUD) and ``GET /api/notifications/`` (deliveries).

Rules are validated by ``notification_input`` as at every door; each error names the field. The
secret is write-only: no answer carries it, except the answer to the save that generated one (a
webhook rule created without a secret), once, as ``secret``; ``has_secret`` says one is set.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema_view
from rest_framework import serializers, viewsets

from orchestrator import constraints
from orchestrator.models import Notification, NotificationRule
from scheduling.surfaces import notification_input
from scheduling.surfaces.api import serializers as api
from scheduling.surfaces.api.base import ApiView, documented
from scheduling.surfaces.api.calendar_views import ListInput
from scheduling.surfaces.api.inputs import BooleanInput, TextInput


class NotificationRuleSerializer(serializers.Serializer[NotificationRule]):
    id = serializers.IntegerField(read_only=True)
    name = TextInput(help_text="Unique.")
    description = TextInput()
    events = ListInput(help_text="Any of: run_failed, run_timed_out, run_missed, run_overdue, schedule_paused.")
    schedule = TextInput(help_text="Only this schedule (its name); empty: every schedule.")
    job = TextInput(help_text="Only runs of this job (its key); empty: every job.")
    tenant = TextInput(help_text="Only this tenant's schedules; empty: every tenant.")
    channel = TextInput(help_text="webhook (default) or email.")
    target = TextInput(help_text="The webhook's http(s) URL, or email addresses separated by commas.")
    secret = TextInput(
        write_only=True,
        help_text="Signs each webhook body (X-Ostinato-Signature). Write-only; generated when left out of a "
        "webhook rule, and then shown once, in the answer to that save.",
    )
    enabled = BooleanInput()
    has_secret = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_has_secret(self, obj: NotificationRule) -> bool:
        return bool(obj.secret)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        sent = self.initial_data if isinstance(self.initial_data, dict) else {}
        data = {name: sent[name] for name in notification_input.FIELDS if name in sent}
        unknown = [name for name in sent if name not in notification_input.FIELDS and name not in self.fields]
        if unknown:
            raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        instance = self.instance if isinstance(self.instance, NotificationRule) else None
        if instance is None and not self.partial:
            data.setdefault("channel", "webhook")
        try:
            rule = notification_input.validate(data, instance)
        except Exception as exc:  # ValidationError keyed by field
            errors = getattr(exc, "errors", None)
            if errors is None:
                raise
            raise serializers.ValidationError(errors) from exc
        return {"rule": rule}

    def create(self, validated_data: dict[str, Any]) -> NotificationRule:
        rule: NotificationRule = validated_data["rule"]
        rule.save()
        return rule

    def update(self, instance: NotificationRule, validated_data: dict[str, Any]) -> NotificationRule:
        rule: NotificationRule = validated_data["rule"]
        rule.save()
        return rule

    def to_representation(self, instance: NotificationRule) -> dict[str, Any]:
        data = dict(super().to_representation(instance))
        generated = getattr(instance, notification_input.GENERATED, None)
        if generated:
            data["secret"] = generated  # once: this answer only
        return data


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    rule: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="name", read_only=True)
    run_id = serializers.UUIDField(read_only=True, allow_null=True, help_text="The run notified about, if any.")

    class Meta:
        model = Notification
        fields = [
            "id",
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
            "payload",
        ]
        read_only_fields = fields


_ERRORS = {
    400: OpenApiResponse(description='Invalid input, by field: {"events": ["unknown event ..."]}.'),
    401: OpenApiResponse(response=api.ErrorSerializer, description="Authentication required."),
    403: OpenApiResponse(response=api.ErrorSerializer, description="The user lacks the model permission."),
}
_NOT_FOUND = {404: OpenApiResponse(response=api.ErrorSerializer, description="No such rule.")}
_NO_PAGE = {404: OpenApiResponse(response=api.ErrorSerializer, description="A page past the last one.")}


@extend_schema_view(
    list=documented(responses={200: NotificationRuleSerializer, **_ERRORS, **_NO_PAGE}),
    create=documented(
        responses={201: NotificationRuleSerializer, **_ERRORS},
        examples=[
            OpenApiExample(
                "Failures and overdue runs of one schedule, to a webhook",
                request_only=True,
                value={
                    "name": "nightly-alerts",
                    "events": ["run_failed", "run_timed_out", "run_overdue"],
                    "schedule": "nightly-report",
                    "channel": "webhook",
                    "target": "https://hooks.example.com/ostinato",
                    "secret": "a long random string",
                },
            )
        ],
    ),
    retrieve=documented(responses={200: NotificationRuleSerializer, **_ERRORS, **_NOT_FOUND}),
    update=documented(responses={200: NotificationRuleSerializer, **_ERRORS, **_NOT_FOUND}),
    partial_update=documented(responses={200: NotificationRuleSerializer, **_ERRORS, **_NOT_FOUND}),
    destroy=documented(responses={204: None, **_ERRORS, **_NOT_FOUND}),
)
class NotificationRuleViewSet(ApiView, viewsets.ModelViewSet[NotificationRule]):
    """Notification rules: which events (failed, timed-out, missed, overdue runs, paused schedules) go where."""

    serializer_class = NotificationRuleSerializer
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    required_permissions = {
        "list": ["orchestrator.view_notificationrule"],
        "retrieve": ["orchestrator.view_notificationrule"],
        "metadata": ["orchestrator.view_notificationrule"],
        "create": ["orchestrator.add_notificationrule"],
        "update": ["orchestrator.change_notificationrule"],
        "partial_update": ["orchestrator.change_notificationrule"],
        "destroy": ["orchestrator.delete_notificationrule"],
    }

    def get_queryset(self) -> QuerySet[NotificationRule]:
        return NotificationRule.objects.order_by("name")

    def perform_create(self, serializer: serializers.BaseSerializer[Any]) -> None:
        with constraints.enforced():
            serializer.save()

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        with constraints.enforced():
            serializer.save()


_FILTERS = [
    OpenApiParameter("status", str, description="pending, sending, sent or failed."),
    OpenApiParameter("event", str, description="The event notified, e.g. run_failed."),
    OpenApiParameter("rule", str, description="The rule's name."),
]


@extend_schema_view(
    list=documented(parameters=_FILTERS, responses={200: NotificationSerializer, **_ERRORS, **_NO_PAGE}),
    retrieve=documented(responses={200: NotificationSerializer, **_ERRORS, **_NOT_FOUND}),
)
class NotificationViewSet(ApiView, viewsets.ReadOnlyModelViewSet[Notification]):
    """Deliveries: one per rule, event and run or occurrence, with status, attempts and the last error."""

    serializer_class = NotificationSerializer
    lookup_value_regex = r"[0-9]+"
    required_permissions = {
        "list": ["orchestrator.view_notification"],
        "retrieve": ["orchestrator.view_notification"],
        "metadata": ["orchestrator.view_notification"],
    }

    def get_queryset(self) -> QuerySet[Notification]:
        rows = Notification.objects.select_related("rule").order_by("-created_at", "-id")
        params = self.request.query_params
        for name, lookup in (("status", "status"), ("event", "event"), ("rule", "rule__name")):
            value = params.get(name)
            if value and "\x00" not in value:
                rows = rows.filter(**{lookup: value[:200]})
        return rows
