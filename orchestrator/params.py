"""The params a job declares: checked wherever a schedule is saved, shown wherever a job is chosen.

A job registered with ``params=[Param(...), ...]`` takes exactly those keys: an unknown key (a typo
such as ``secs`` for ``seconds``) or a value of the wrong kind is refused when the schedule is
saved, at every door, instead of failing every run later. A job registered without ``params``
takes any JSON object (its own ``validate_params`` may still check it). Errors are keyed
``params.<name>``, like every job's own checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ParamKind(StrEnum):
    NUMBER = "number"
    INTEGER = "integer"
    TEXT = "text"
    BOOLEAN = "boolean"
    OBJECT = "object"
    LIST = "list"


_KIND_WORDS = {
    ParamKind.NUMBER: "a number",
    ParamKind.INTEGER: "a whole number",
    ParamKind.TEXT: "text",
    ParamKind.BOOLEAN: "true or false",
    ParamKind.OBJECT: "a JSON object",
    ParamKind.LIST: "a JSON list",
}


@dataclass(frozen=True, kw_only=True)
class Param:
    """One param a job takes: its name, kind, what it means, and its bounds."""

    name: str
    kind: ParamKind
    description: str
    required: bool = False
    #: What the job uses when the param is left out (for display; the job applies it).
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None

    def summary(self) -> str:
        """``seconds (a number, at least 0, default 1): how long to sleep``: the param as forms list it."""
        facts = [_KIND_WORDS[self.kind]]
        if self.required:
            facts.append("required")
        if self.minimum is not None:
            facts.append(f"at least {self.minimum:g}")
        if self.maximum is not None:
            facts.append(f"at most {self.maximum:g}")
        if self.default is not None:
            facts.append(f"default {self.default}")
        return f"{self.name} ({', '.join(facts)}): {self.description}"

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this param, or None."""
        expected = _KIND_WORDS[self.kind]
        if not _is_kind(value, self.kind):
            return f"must be {expected}, not {value!r}"
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {self.minimum:g}, not {value!r}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {self.maximum:g}, not {value!r}"
        if self.max_length is not None and len(value) > self.max_length:
            return f"must be at most {self.max_length} characters long"
        if self.kind == ParamKind.TEXT and self.required and not value.strip():
            return "must not be empty"
        return None


def _is_kind(value: Any, kind: ParamKind) -> bool:
    if kind == ParamKind.BOOLEAN:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False  # JSON's true is not the number 1
    if kind == ParamKind.NUMBER:
        return isinstance(value, int | float)
    if kind == ParamKind.INTEGER:
        return isinstance(value, int)
    if kind == ParamKind.TEXT:
        return isinstance(value, str)
    if kind == ParamKind.OBJECT:
        return isinstance(value, Mapping)
    return isinstance(value, list)


def check(job_key: str, declared: Sequence[Param], params: Mapping[str, Any]) -> dict[str, list[str]]:
    """Errors of ``params`` against the job's declared params, keyed ``params.<name>`` (empty: valid)."""
    errors: dict[str, list[str]] = {}
    known = {param.name: param for param in declared}
    names = ", ".join(known) or "none"
    for key in params:
        if key not in known:
            errors[f"params.{key}"] = [f"is not a param of the {job_key} job; its params: {names}"]
    for param in declared:
        if param.name not in params:
            if param.required:
                errors[f"params.{param.name}"] = [f"is required: {param.description}"]
            continue
        problem = param.problem(params[param.name])
        if problem is not None:
            errors[f"params.{param.name}"] = [problem]
    return errors
