"""Request-body fields as strict as the OpenAPI schema says they are.

DRF reads a JSON number into a string field (``"name": 0`` becomes the name ``"0"``), text into an
integer field through ``int()`` (which takes ``"٣"``, an Arabic-Indic three, for 3) and ``"yes"``
into a boolean field. The schema promises string, integer and boolean; these refuse anything else,
with an error that names the JSON type given rather than echoing a value that may be huge.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from scheduling.surfaces.input_checks import unstorable


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
            self.fail("wrong_type", given=json_kind(data))
        return str(super().to_internal_value(data))


def json_kind(value: Any) -> str:
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
