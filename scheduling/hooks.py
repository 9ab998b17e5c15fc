"""After-hooks on the beat's work, each taking one frozen value (metrics, status pages subscribe here).

A failing hook is logged and never breaks the tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduling.dispatch import MaintenanceReport, TickReport

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


MaintenanceHook = Callable[[datetime], None]
_maintenance: list[MaintenanceHook] = []


def on_maintenance(hook: MaintenanceHook) -> MaintenanceHook:
    """Register ``hook(now)`` to run in every beat's maintenance step (e.g. the lost-run reaper)."""
    if hook not in _maintenance:
        _maintenance.append(hook)
    return hook


def maintenance(now: datetime) -> None:
    for hook in list(_maintenance):
        try:
            hook(now)
        except Exception:
            logger.exception("maintenance hook %s failed", getattr(hook, "__qualname__", hook))


MaintenanceReportHook = Callable[["MaintenanceReport"], None]
_maintenance_completed: list[MaintenanceReportHook] = []


def on_maintenance_completed(hook: MaintenanceReportHook) -> MaintenanceReportHook:
    """Register ``hook(report)`` to be called after every maintenance step, with what it published (idempotent)."""
    if hook not in _maintenance_completed:
        _maintenance_completed.append(hook)
    return hook


def maintenance_completed(report: MaintenanceReport) -> None:
    for hook in list(_maintenance_completed):
        try:
            hook(report)
        except Exception:
            logger.exception("maintenance report hook %s failed", getattr(hook, "__qualname__", hook))
