"""``/api/calendars/``: exclusion calendars, created, read, changed and deleted (model permissions
``scheduling.*_calendar``). Validation is the model's (``Calendar.clean``, the core's
``calendars.validate``), as in the admin and YAML: each error names the field and the item.
Schedules name calendars by ``name``; deleting a calendar detaches it from its schedules.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_field, extend_schema_view
from rest_framework import serializers, viewsets

from orchestrator import constraints
from orchestrator.errors import ValidationError
from scheduling.models import Calendar
from scheduling.surfaces.api import serializers as api
from scheduling.surfaces.api.base import ApiView, documented
from scheduling.surfaces.api.inputs import InputField, TextInput
from scheduling.surfaces.input_checks import unstorable


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class ListInput(InputField):
    """A JSON list, passed on as sent: the model checks each item and names it by its index."""

    json_types = (list,)
    expected = "a list"

    def to_representation(self, value: Any) -> Any:
        return list(value or [])


class CalendarSerializer(serializers.ModelSerializer[Calendar]):
    name = TextInput(help_text="Unique; schedules name the calendar by it.")
    description = TextInput()
    timezone = TextInput(help_text="IANA time zone the dates and crons are read in (default UTC).")
    dates = ListInput(help_text='Whole local days excluded: ["2026-12-25", ...] (YYYY-MM-DD).')
    crons = ListInput(
        help_text='Cron expressions read in `timezone`; a fire time one matches is excluded, e.g. ["* * * * 6,0"] '
        'for weekends or ["* 2-3 * * *"] for 02:00-03:59.'
    )
    schedules: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="name", many=True, read_only=True, help_text="The schedules it is attached to, by name."
    )

    class Meta:
        model = Calendar
        fields = ["id", "name", "description", "timezone", "dates", "crons", "schedules", "created_at", "updated_at"]
        read_only_fields = ["id", "schedules", "created_at", "updated_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The model's rules on the calendar as it would be saved (a partial update: over the stored one)."""
        current = self.instance if isinstance(self.instance, Calendar) else Calendar()
        candidate = Calendar(
            pk=current.pk,
            **{
                name: (attrs[name] if attrs.get(name) is not None else getattr(current, name))
                for name in ("name", "description", "timezone", "dates", "crons")
            },
        )
        errors: dict[str, list[str]] = {}
        for name, value in attrs.items():
            problem = unstorable(value)  # NUL or a lone surrogate: refused before the database sees it
            if problem:
                errors[name] = [problem]
        if errors:
            raise serializers.ValidationError(errors)
        try:
            candidate.clean()
        except ValidationError as exc:
            errors.update(exc.errors)
        others = Calendar.objects.filter(name=candidate.name).exclude(pk=current.pk)
        if "name" not in errors and candidate.name and others.exists():
            errors["name"] = [constraints.unique_message(Calendar, ["name"])]
        if errors:
            raise serializers.ValidationError(errors)
        return {name: getattr(candidate, name) for name in ("name", "description", "timezone", "dates", "crons")}


_ERRORS = {
    400: OpenApiResponse(description='Invalid input, by field: {"dates": ["dates[1]: ... is not a date; ..."]}.'),
    401: OpenApiResponse(response=api.ErrorSerializer, description="Authentication required."),
    403: OpenApiResponse(response=api.ErrorSerializer, description="The user lacks the model permission."),
}
_NOT_FOUND = {404: OpenApiResponse(response=api.ErrorSerializer, description="No such calendar.")}


@extend_schema_view(
    list=documented(responses={200: CalendarSerializer, **_ERRORS, **_NOT_FOUND}),
    create=documented(
        responses={201: CalendarSerializer, **_ERRORS},
        examples=[
            OpenApiExample(
                "Weekends and two holidays, in Berlin time",
                request_only=True,
                value={
                    "name": "berlin-holidays",
                    "timezone": "Europe/Berlin",
                    "dates": ["2026-12-25", "2026-12-26"],
                    "crons": ["* * * * 6,0"],
                },
            )
        ],
    ),
    retrieve=documented(responses={200: CalendarSerializer, **_ERRORS, **_NOT_FOUND}),
    update=documented(responses={200: CalendarSerializer, **_ERRORS, **_NOT_FOUND}),
    partial_update=documented(responses={200: CalendarSerializer, **_ERRORS, **_NOT_FOUND}),
    destroy=documented(responses={204: None, **_ERRORS, **_NOT_FOUND}),
)
class CalendarViewSet(ApiView, viewsets.ModelViewSet[Calendar]):
    """Exclusion calendars: dates and cron-matched times at which the schedules attached do not run."""

    serializer_class = CalendarSerializer
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    required_permissions = {
        "list": ["scheduling.view_calendar"],
        "retrieve": ["scheduling.view_calendar"],
        "metadata": ["scheduling.view_calendar"],
        "create": ["scheduling.add_calendar"],
        "update": ["scheduling.change_calendar"],
        "partial_update": ["scheduling.change_calendar"],
        "destroy": ["scheduling.delete_calendar"],
    }

    def get_queryset(self) -> QuerySet[Calendar]:
        return Calendar.objects.prefetch_related("schedules").order_by("name")

    def perform_create(self, serializer: serializers.BaseSerializer[Any]) -> None:
        with constraints.enforced():  # a name taken meanwhile: 400 naming it
            serializer.save()

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        with constraints.enforced():
            serializer.save()
