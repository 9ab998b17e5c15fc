"""How a schedule's audit entries name an edit: paused, resumed, enabled, disabled, or changed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def schedule_action(action: str, changes: Mapping[str, Mapping[str, Any]]) -> str:
    """``paused``/``resumed`` when ``enabled`` flipped together with a pause's note or time; else
    ``enabled``/``disabled`` when it flipped alone; otherwise ``action`` as it was (created, changed)."""
    enabled = changes.get("enabled")
    if action != "changed" or enabled is None:
        return action
    paused_fields = {"pause_note", "paused_at", "paused_by"} & changes.keys()
    if enabled.get("after"):
        return "resumed" if paused_fields else "enabled"
    return "paused" if paused_fields else "disabled"
