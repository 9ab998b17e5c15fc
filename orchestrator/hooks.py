"""After-hooks on run lifecycle changes, each taking one frozen value.

The orchestrator knows nothing of schedules; ``scheduling`` subscribes here (e.g. to start a
buffered occurrence when the active run ends). A failing hook is logged and never breaks the run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RunEnded:
    run_id: uuid.UUID
    job_key: str
    status: str
    snapshot: Mapping[str, Any]


RunEndedHook = Callable[[RunEnded], None]
_run_ended: list[RunEndedHook] = []


def on_run_ended(hook: RunEndedHook) -> RunEndedHook:
    """Register ``hook`` to be called after a run reaches a final status (idempotent)."""
    if hook not in _run_ended:
        _run_ended.append(hook)
    return hook


def run_ended(value: RunEnded) -> None:
    for hook in list(_run_ended):
        try:
            hook(value)
        except Exception:
            logger.exception(
                "run-ended hook %s failed",
                getattr(hook, "__qualname__", hook),
                extra={"run_id": str(value.run_id)},
            )
