"""After-hooks on the beat's work, each taking one frozen value (metrics, status pages subscribe here).

A failing hook is logged and never breaks the tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduling.dispatch import TickReport

logger = logging.getLogger(__name__)

TickHook = Callable[["TickReport"], None]
_tick_completed: list[TickHook] = []


def on_tick_completed(hook: TickHook) -> TickHook:
    """Register ``hook`` to be called after every dispatch tick that claimed something (idempotent)."""
    if hook not in _tick_completed:
        _tick_completed.append(hook)
    return hook


def tick_completed(report: TickReport) -> None:
    for hook in list(_tick_completed):
        try:
            hook(report)
        except Exception:
            logger.exception("tick hook %s failed", getattr(hook, "__qualname__", hook))
