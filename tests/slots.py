"""Machine-wide slots shared by test and bench runs: slot N is Redis db N and its own database.

A slot is an exclusive ``flock`` on a file in the temp folder, held for the run's lifetime, so runs
on one machine (several test sessions, a bench run) never see each other's data.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from typing import IO

SLOTS = range(1, 16)  # Redis databases 1..15; 0 is left to the developer's own use


def take_slot() -> tuple[int, IO[str]] | None:
    """The first free slot and its lock file (closing it frees the slot); None when all are taken."""
    for slot in SLOTS:
        handle = try_slot(slot)
        if handle is not None:
            return slot, handle
    return None


def try_slot(slot: int) -> IO[str] | None:
    """Slot ``slot``'s lock file when the slot is free (closing it frees the slot again), else None."""
    # "a", never "w": probing a slot another run holds must not erase the PID it wrote there
    handle = open(Path(tempfile.gettempdir()) / f"ostinato-test-slot-{slot}.lock", "a")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
