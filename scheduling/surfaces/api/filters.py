"""The API's query parameters, as strict as the schema says: a flag is ``true`` or ``false``, ranges in order."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from orchestrator.models import RunStatus, RunTrigger
from scheduling.core.timing import Kind
from scheduling.models import OccurrenceStatus, ScheduleSource
from scheduling.surfaces.api import keyset


class StrictBooleanField(serializers.BooleanField):
    """A query flag spelled ``true`` or ``false`` (as the schema says), not 1, yes or on."""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        if isinstance(data, str) and data.lower() in ("true", "false"):
            return data.lower() == "true"
        self.fail("invalid", input=data)
        raise AssertionError("unreachable")  # fail() raises


class ScheduleFilterSerializer(serializers.Serializer[dict[str, Any]]):
    enabled = StrictBooleanField(required=False, help_text="true or false.")
    job = serializers.CharField(required=False, max_length=100, help_text="A job key.")
    tenant = serializers.CharField(required=False, max_length=100)
    kind = serializers.ChoiceField(choices=Kind.choices(), required=False)
    source = serializers.ChoiceField(choices=ScheduleSource.choices, required=False)  # type: ignore[assignment]
    name = serializers.CharField(required=False, max_length=200, help_text="Part of the name (case-insensitive).")
    state = serializers.ChoiceField(
        choices=[("enabled", "enabled"), ("paused", "paused"), ("disabled", "disabled")],
        required=False,
        help_text="enabled, paused (disabled with a note) or disabled (not paused).",
    )


class HistoryFilterSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(choices=OccurrenceStatus.choices, required=False, help_text="Occurrence status.")
    run_status = serializers.ChoiceField(choices=RunStatus.choices, required=False, help_text="Status of the run.")
    since = serializers.DateTimeField(
        required=False,
        help_text="Occurrences at or after this time (scheduled time, or request time for run-now); "
        "must be before `until` when both are given.",
    )
    until = serializers.DateTimeField(
        required=False, help_text="Occurrences before this time; must be after `since` when both are given."
    )
    cursor = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Keyset pages instead of `page`: give it empty (`?cursor=`) for the first page, then follow "
        "each page's `next`. The same cost at any depth (a page number reads every row before it); "
        "cursor pages carry `next` and `results`, no `count`. Not together with `page`.",
    )

    def validate_cursor(self, value: str) -> keyset.Position | None:
        try:
            return keyset.decode(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["until"] <= attrs["since"]:
            raise serializers.ValidationError({"until": ["must be after since"]})
        return attrs


class RunFilterSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)
    job = serializers.CharField(required=False, max_length=100, help_text="A job key.")
    schedule = serializers.IntegerField(required=False, min_value=1, help_text="A schedule id.")
    trigger = serializers.ChoiceField(choices=RunTrigger.choices, required=False)
    created_after = serializers.DateTimeField(
        required=False,
        help_text="Runs created at or after this time; must be before `created_before` when both are given.",
    )
    created_before = serializers.DateTimeField(
        required=False,
        help_text="Runs created before this time; must be after `created_after` when both are given.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        after, before = attrs.get("created_after"), attrs.get("created_before")
        if after and before and before <= after:
            raise serializers.ValidationError({"created_before": ["must be after created_after"]})
        return attrs
