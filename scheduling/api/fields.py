"""Request-body fields as strict as the OpenAPI schema says they are.

DRF reads a JSON number into a string field (``"name": 0`` becomes the name ``"0"``), text into an
integer field through ``int()`` (which takes ``"٣"``, an Arabic-Indic three, for 3) and ``"yes"``
into a boolean field. The schema promises string, integer and boolean; these refuse anything else,
with an error that names the JSON type given rather than echoing a value that may be huge.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from django.db import models
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from scheduling.inputs import unstorable


def storable(value: str) -> None:
    """NUL or a lone surrogate: refused in the words every door uses (DRF has words of its own)."""
    problem = unstorable(value)
    if problem:
        raise serializers.ValidationError(problem)


class StrictCharField(serializers.CharField):
    """Text given as a JSON string: ``"name": 0`` is refused, not stored as ``"0"`` (the schema says string)."""

    default_error_messages = {"wrong_type": "must be a JSON string (text in quotes), not {given}"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        drf_own = (ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator)
        self.validators = [v for v in self.validators if not isinstance(v, drf_own)] + [storable]

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("wrong_type", given=_json_kind(data))
        return str(super().to_internal_value(data))


class StrictIntegerField(serializers.IntegerField):
    """A JSON number with no fraction: ``"60"`` and ``"٣"`` (text) and ``true`` are refused (the schema
    says integer); DRF alone reads text through ``int()``, which takes any script's digits."""

    default_error_messages = {
        "wrong_type": "must be a whole number (a JSON integer such as 60), not {given}",
        "invalid": "must be a whole number (a JSON integer such as 60)",  # DRF's own: 1e300 and the like
    }

    def to_internal_value(self, data: Any) -> int:
        if (
            isinstance(data, bool)
            or not isinstance(data, int | float)
            or (isinstance(data, float) and not data.is_integer())
        ):
            self.fail("wrong_type", given=_json_kind(data))
        return int(super().to_internal_value(data))


class StrictBooleanBodyField(serializers.BooleanField):
    """``true`` or ``false``: DRF alone also reads ``"yes"``, ``"on"``, ``1`` and ``0``."""

    default_error_messages = {"wrong_type": "must be true or false (a JSON boolean), not {given}"}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("wrong_type", given=_json_kind(data))
        return data


def _json_kind(value: Any) -> str:
    """How an error names a wrong value: its JSON type (the value itself may be huge or hostile)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__


#: The schedule's fields as the schema types them, checked as strictly as the schema says.
STRICT_FIELDS: dict[type[models.Field[Any, Any]], type[serializers.Field[Any, Any, Any, Any]]] = {
    models.CharField: StrictCharField,
    models.TextField: StrictCharField,
    models.IntegerField: StrictIntegerField,
    models.PositiveIntegerField: StrictIntegerField,
    models.PositiveSmallIntegerField: StrictIntegerField,
    models.BooleanField: StrictBooleanBodyField,
}
