"""System checks for the orchestrator's settings (ids are stable: orchestrator.E001...)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register


def _writable_dir(path: Path) -> bool:
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK)


@register()
def check_paths(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not _writable_dir(Path(settings.ARTIFACTS_DIR)):
        messages.append(
            Error(
                f"ARTIFACTS_DIR {settings.ARTIFACTS_DIR} cannot be created or written.",
                hint="Point ARTIFACTS_DIR at a writable folder.",
                id="orchestrator.E001",
            )
        )
    if not _writable_dir(Path(settings.EVENTS_PATH).parent):
        messages.append(
            Warning(
                f"The folder of EVENTS_PATH {settings.EVENTS_PATH} cannot be created or written; "
                "runs will complete but their events will not be logged.",
                hint="Point EVENTS_PATH (or STATE_STORE_PATH) at a writable location.",
                id="orchestrator.W001",
            )
        )
    return messages
