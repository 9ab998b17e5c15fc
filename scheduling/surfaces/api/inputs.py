"""The API's schedule input fields: each takes the JSON type the schema says and passes the value on as
sent, for ``schedule_input.clean`` to read with the wording of every door."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orchestrator.models import Directive, Job
from scheduling.surfaces.input_checks import shown


class InputField(serializers.Field):  # type: ignore[type-arg]
    """A schedule field of the JSON type the schema says, passed on as sent: ``schedule_input.clean``
    reads it, with the wording of every door. ``json_types``: the types taken (null always is);
    another type is refused in the shared wording (``"interval_seconds": "60"`` is a string)."""

    json_types: tuple[type, ...] = (object,)
    expected = ""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if data is not None and not self._taken(data):
            quoted = isinstance(data, str) and self._taken(_json_or_none(data))
            hint = " (a JSON string: leave out the quotes)" if quoted else ""
            raise serializers.ValidationError(f"must be {self.expected}, not {shown(data)}{hint}")
        return data

    def _taken(self, data: Any) -> bool:
        if data is None:
            return False
        return bool in self.json_types if isinstance(data, bool) else isinstance(data, self.json_types)

    def to_representation(self, value: Any) -> Any:
        return value


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


@extend_schema_field(OpenApiTypes.STR)
class TextInput(InputField):
    json_types = (str,)
    expected = "text"


@extend_schema_field(OpenApiTypes.INT)
class IntegerInput(InputField):
    """A JSON integer (``60.0`` is 60): text is refused, as the schema says (``int()`` reads "٣" as 3)."""

    json_types = (int, float)
    expected = "a whole number"

    def to_internal_value(self, data: Any) -> Any:
        data = super().to_internal_value(data)
        if isinstance(data, float):
            if not data.is_integer() or abs(data) > 2**53:  # 1.5; 1e300, a float past exact integers
                raise serializers.ValidationError(f"must be {self.expected}, not {shown(data)}")
            return int(data)
        return data


@extend_schema_field(OpenApiTypes.BOOL)
class BooleanInput(InputField):
    json_types = (bool,)
    expected = "true or false"


@extend_schema_field({"type": "object", "additionalProperties": True})
class ObjectInput(InputField):
    json_types = (dict,)
    expected = 'a JSON object, e.g. {"path": "var/app.log"}'


@extend_schema_field(OpenApiTypes.DATETIME)
class DateTimeInput(InputField):
    """ISO 8601; without an offset it is a wall time in the schedule's time zone."""

    json_types = (str,)
    expected = "a date and time in ISO 8601, as text"

    def to_representation(self, value: Any) -> Any:
        return serializers.DateTimeField().to_representation(value) if value is not None else None


@extend_schema_field(OpenApiTypes.STR)
class JobInput(TextInput):
    expected = "the key of a job"

    def to_representation(self, value: Any) -> Any:
        return value.key if isinstance(value, Job) else value


@extend_schema_field(OpenApiTypes.STR)
class DirectiveInput(TextInput):
    expected = "the name of a directive, or null for none"

    def to_internal_value(self, data: Any) -> Any:
        if data == "":  # the schema promises a name or null; "" is neither
            raise serializers.ValidationError(f"must be {self.expected}")
        return super().to_internal_value(data)

    def to_representation(self, value: Any) -> Any:
        return value.name if isinstance(value, Directive) else value


class ChoiceInput(serializers.ChoiceField):
    """A closed set (the schema lists it); what was sent is checked by ``schedule_input``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        return data


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class NamesInput(InputField):
    """A list of names (a schedule's calendars); each name is checked by ``schedule_input``."""

    json_types = (list,)
    expected = 'a list of names, e.g. ["holidays"]'

    def to_representation(self, value: Any) -> Any:
        rows = value.all() if hasattr(value, "all") else value
        return sorted(getattr(row, "name", row) for row in rows)
