"""Following the JSONL event log as it grows (``manage.py events tail``).

Reads only complete lines (a line still being written is kept until its newline arrives), skips
corrupted ones like every other reader of the log, and starts over when the file is truncated
or replaced (log rotation).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from orchestrator import events
from orchestrator.events import Event

_BLOCK = 64 * 1024


def _last_events(path: Path, end: int, count: int) -> list[Event]:
    """The last ``count`` valid events among the first ``end`` bytes of ``path``, oldest first."""
    if count <= 0 or end <= 0:
        return []
    found: list[Event] = []
    with open(path, "rb") as handle:
        position = end
        remainder = b""
        while position > 0 and len(found) < count:
            size = min(_BLOCK, position)
            position -= size
            handle.seek(position)
            block = handle.read(size) + remainder
            lines = block.split(b"\n")
            remainder = lines.pop(0) if position > 0 else b""
            for line in reversed(lines):
                event = events._parse(line)
                if event is not None:
                    found.append(event)
                    if len(found) >= count:
                        break
        if remainder and len(found) < count:
            event = events._parse(remainder)
            if event is not None:
                found.append(event)
    return list(reversed(found))


def follow(
    path: str | os.PathLike[str] | None = None,
    *,
    initial: int = 10,
    poll_seconds: float = 0.25,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[Event]:
    """The last ``initial`` events, then every event appended, until ``stop()`` is true."""
    target = Path(path) if path is not None else events.default_path()
    position = 0
    inode: int | None = None
    try:
        status = target.stat()
        position, inode = status.st_size, status.st_ino
        yield from _last_events(target, position, initial)
    except FileNotFoundError:
        pass
    pending = b""
    while not stop():
        try:
            status = target.stat()
        except FileNotFoundError:
            time.sleep(poll_seconds)
            continue
        if status.st_ino != inode or status.st_size < position:  # rotated or truncated
            inode, position, pending = status.st_ino, 0, b""
        if status.st_size > position:
            with open(target, "rb") as handle:
                handle.seek(position)
                chunk = handle.read(status.st_size - position)
            position += len(chunk)
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                event = events._parse(line)
                if event is not None:
                    yield event
            continue
        time.sleep(poll_seconds)
