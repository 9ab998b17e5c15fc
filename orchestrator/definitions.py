"""What the orchestrator knows of a job's code, whatever its kind: a callable taking a ``RunContext``,
defaults for its ``Job`` row, and how its params are checked and frozen (see ``orchestrator.registry``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.params import Param

if TYPE_CHECKING:
    from orchestrator.context import RunContext

JobFunc = Callable[["RunContext"], Mapping[str, Any] | None]
#: Checks a job's params when a schedule is saved (every door); raises ``ValidationError`` keyed by field.
ParamsValidator = Callable[[Mapping[str, Any]], None]
#: Turns params into what a run freezes (e.g. a referenced file's parsed content), when the run is built.
ParamsFreezer = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True, kw_only=True)
class JobDefinition:
    key: str
    func: JobFunc
    description: str
    queue: str
    timeout_seconds: int
    max_retries: int
    max_concurrency: int | None
    validate_params: ParamsValidator | None = None
    freeze_params: ParamsFreezer | None = None
    #: The params the job takes (None: any JSON object; the job's own check may still refuse some).
    params: tuple[Param, ...] | None = None
    #: For a host task: what its params are, in words, with the task's signature.
    call_help: str = ""
