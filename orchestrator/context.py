"""What a job receives: its frozen params and the ways to report what it did.

A job reports artifacts and language-model token counts through its context, so every run
records them the same way. Token counts only: the context has no way to store prompt or
response text, on purpose.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from orchestrator import artifacts
from orchestrator.errors import ValidationError
from orchestrator.models import LLMCall, RunArtifact


@dataclass(frozen=True, kw_only=True)
class RunContext:
    run_id: uuid.UUID
    job_key: str
    attempt: int
    trigger: str
    snapshot: Mapping[str, Any]
    logger: logging.Logger = field(repr=False)
    #: Set when this context runs one step of a DAG: its artifacts go under ``<step_id>/``.
    step_id: str = ""
    #: In a DAG step: the results of the steps it needs, directly or not, by step id.
    upstream: Mapping[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> Mapping[str, Any]:
        """The run's params as frozen at creation (read-only)."""
        return MappingProxyType(dict(self.snapshot.get("params") or {}))

    @property
    def scheduled_for(self) -> str | None:
        """ISO time of the occurrence this run is for, or None for a manual run."""
        schedule = self.snapshot.get("schedule") or {}
        value = schedule.get("scheduled_for")
        return str(value) if value else None

    def write_artifact(self, name: str, data: bytes | str, content_type: str | None = None) -> RunArtifact:
        """Write a file under this run's artifact folder and record it (same name: replaced).

        In a DAG step the name is prefixed with the step id (``triage/report.md``), so steps
        cannot overwrite each other's files.
        """
        if self.step_id:
            name = f"{self.step_id}/{artifacts.validate_name(name)}"
        written = artifacts.write(self.run_id, name, data, content_type)
        artifact, _ = RunArtifact.objects.update_or_create(
            run_id=self.run_id,
            name=written.name,
            defaults={
                "path": written.relative_path,
                "size_bytes": written.size_bytes,
                "sha256": written.sha256,
                "content_type": written.content_type,
            },
        )
        return artifact

    def record_llm_usage(self, *, model: str, prompt_tokens: int, completion_tokens: int) -> LLMCall:
        """Record the token counts of one language-model call made for this run."""
        problems = {}
        if not model or len(model) > 200:
            problems["model"] = "must be 1-200 characters"
        for name, value in (("prompt_tokens", prompt_tokens), ("completion_tokens", completion_tokens)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems[name] = "must be a non-negative integer"
        if problems:
            raise ValidationError(problems)
        return LLMCall.objects.create(
            run_id=self.run_id, model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )

    def now(self) -> datetime:
        from django.utils import timezone

        return timezone.now()
