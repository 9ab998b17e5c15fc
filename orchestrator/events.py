"""The append-only JSONL event log: one JSON object per line.

Writers in many processes append at once: every batch is one ``write`` on an ``O_APPEND`` file
descriptor under an exclusive ``flock``, so lines never interleave. A write that fails part-way
(disk full, file size limit) is truncated back to where it began, so it leaves no torn line; a
fragment left by a writer killed mid-write is ended before the next line. Readers skip lines that
are not JSON objects (binary junk, such a fragment) instead of failing.

Keys: ``ts`` (ISO 8601 UTC, added when missing), ``event``, and where they apply ``schedule``,
``schedule_id``, ``scheduled_for``, ``run_id``, ``job``, ``trigger``, ``status``, ``worker``,
``duration_ms``, ``error``, ``reason``, ``recovered``.

A run is announced by ``schedule_enqueued`` just before its message goes to the broker (so no
``run_started`` can come first). The log is append-only, so a publish that fails is told in more
lines, not fewer: ``schedule_enqueued``, then ``run_publish_failed`` for the same ``run_id`` (the
run stays ``pending``), then, when recovery publishes it, ``schedule_enqueued`` again with
``recovered: true`` (repeated if that publish fails too). A run committed by a beat that died
before publishing has only the recovered line. Count a run (an occurrence, for a scheduled run)
by its ``run_id``, or drop the announcements a later one of the same run repeats
(``once_per_run``): ``index_by``, and so ``manage.py events index``, do; ``last_runs`` and
``iter_events`` return every line as written.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SCHEDULE_ENQUEUED = "schedule_enqueued"
RUN_STARTED = "run_started"
RUN_FINISHED = "run_finished"
RUN_SKIPPED = "run_skipped"
RUN_MISSED = "run_missed"
RUN_RETRIED = "run_retried"
RUN_CANCELLED = "run_cancelled"
RUN_BUFFERED = "run_buffered"
RUN_WAITING = "run_waiting"
RUN_PUBLISH_FAILED = "run_publish_failed"
#: Schedule controls: paused (by someone, or by itself after failures, with the reason), resumed
#: (by someone, or by a beat at its ``resume_at``); a run still unfinished past its deadline.
SCHEDULE_PAUSED = "schedule_paused"
SCHEDULE_RESUMED = "schedule_resumed"
RUN_OVERDUE = "run_overdue"
#: A notification was delivered to its rule's target; or it was given up after its last attempt.
NOTIFICATION_SENT = "notification_sent"
NOTIFICATION_FAILED = "notification_failed"
#: A backfill of a schedule's past fire times was requested; it created its last occurrence and
#: its runs ended (or it was cancelled).
BACKFILL_STARTED = "backfill_started"
BACKFILL_FINISHED = "backfill_finished"
#: A beat could not plan a schedule (the error is kept; the schedule is tried again a minute later).
SCHEDULE_ERROR = "schedule_error"
#: Log lines only (``extra={"event": ...}``), not written to the event log: a beat's recovery
#: published a pending run; a buffered occurrence got its run.
RUN_RECOVERED = "run_recovered"
RUN_RELEASED = "run_released"
#: A guard refused a job's access to a file or host (``orchestrator.guards``); the run fails.
ACCESS_DENIED = "access_denied"
STEP_STARTED = "step_started"
STEP_FINISHED = "step_finished"

Event = dict[str, Any]

_READ_BLOCK = 64 * 1024
_failures_lock = threading.Lock()
_write_failures = 0


def default_path() -> Path:
    from django.conf import settings

    return _as_path(settings.EVENTS_PATH)


@lru_cache(maxsize=16)
def _as_path(value: str | os.PathLike[str]) -> Path:
    """The setting as a ``Path``, made once per value: every run writes two events (~15 µs each)."""
    return Path(value)


def _resolve(path: str | os.PathLike[str] | None) -> Path:
    return default_path() if path is None else Path(path)


def utc_stamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``: ``2026-11-23T10:00:00.123Z``."""
    moment = datetime.now(UTC) if moment is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return utc_stamp(value)
    if isinstance(value, uuid.UUID | Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _encode(event: Mapping[str, Any], stamp: str) -> tuple[Event, bytes]:
    record = dict(event)
    if not record.get("ts"):
        record = {"ts": stamp, **record}
    line = json.dumps(record, default=_json_default, ensure_ascii=False, separators=(",", ":"))
    return record, (line + "\n").encode("utf-8")


def record_events(events: Sequence[Mapping[str, Any]], path: str | os.PathLike[str] | None = None) -> list[Event]:
    """Append ``events`` in one locked write; returns them as written (with ``ts``). Raises ``OSError``."""
    if not events:
        return []
    target = _resolve(path)
    stamp = utc_stamp()  # one write, one time: a burst's events were spending more on the clock than on JSON
    encoded = [_encode(event, stamp) for event in events]
    payload = b"".join(data for _, data in encoded)
    try:
        fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except FileNotFoundError:  # its folder is made on the first write only: not a mkdir per event
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        start = os.fstat(fd).st_size
        if start and os.pread(fd, 1, start - 1) != b"\n":
            payload = b"\n" + payload  # a writer killed mid-line left a fragment: never glue onto it
        view = memoryview(payload)
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError:
            if len(view) < len(payload):
                # a short write (disk full, file size limit) left part of a line: take it back
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)  # closing releases the lock
    return [record for record, _ in encoded]


def record_event(event: Mapping[str, Any], path: str | os.PathLike[str] | None = None) -> Event:
    """Append one event; returns it as written (with ``ts``). Raises ``OSError`` when it cannot write."""
    return record_events([event], path)[0]


def emit(events: Sequence[Mapping[str, Any]], path: str | os.PathLike[str] | None = None) -> bool:
    """Like ``record_events`` but never raises: a run must complete even when the log cannot be written.

    A failure is logged and counted (``write_failures``); the next call tries again.
    """
    global _write_failures
    try:
        record_events(events, path)
    except (OSError, TypeError, ValueError) as exc:
        with _failures_lock:
            _write_failures += 1
        logger.error(
            "could not write %d event(s) to the event log: %s",
            len(events),
            exc,
            extra={"event": "event_log_write_failed"},
        )
        return False
    return True


def write_failures() -> int:
    """Event-log writes that failed in this process since it started."""
    return _write_failures


_skipped = 0
_skipped_lock = threading.Lock()


def skipped_lines() -> int:
    """How many non-empty lines this process's readers have skipped as corrupted (for reporting)."""
    return _skipped


def _skip() -> None:
    global _skipped
    with _skipped_lock:
        _skipped += 1


def _parse(line: bytes) -> Event | None:
    line = line.strip()
    if not line:
        return None
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ValueError covers bad JSON and integers past Python's digit limit; RecursionError, a
        # line of thousands of nested brackets. Either way the line is not an event: skipped.
        _skip()
        return None
    if not isinstance(value, dict):
        _skip()
        return None
    return value


def _lines_backwards(path: Path) -> Iterator[bytes]:
    """Lines of ``path`` from the last to the first, reading fixed-size blocks from the end."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        remainder = b""
        while position > 0:
            size = min(_READ_BLOCK, position)
            position -= size
            handle.seek(position)
            block = handle.read(size) + remainder
            lines = block.split(b"\n")
            remainder = lines.pop(0)
            yield from reversed(lines)
        if remainder:
            yield remainder


def iter_events_backwards(
    path: str | os.PathLike[str] | None = None,
    predicate: Callable[[Event], bool] | None = None,
) -> Iterator[Event]:
    """Valid events, newest first; a missing file yields nothing."""
    target = _resolve(path)
    try:
        lines = _lines_backwards(target)
        for line in lines:
            event = _parse(line)
            if event is not None and (predicate is None or predicate(event)):
                yield event
    except FileNotFoundError:
        return


def iter_events(path: str | os.PathLike[str] | None = None) -> Iterator[Event]:
    """Valid events, oldest first; a missing file yields nothing."""
    target = _resolve(path)
    try:
        with open(target, "rb") as handle:
            for line in handle:
                event = _parse(line)
                if event is not None:
                    yield event
    except FileNotFoundError:
        return


def last_runs(limit: int = 20, path: str | os.PathLike[str] | None = None) -> list[Event]:
    """The last ``limit`` events, most recent first."""
    if limit <= 0:
        return []
    events = []
    for event in iter_events_backwards(path):
        events.append(event)
        if len(events) >= limit:
            break
    return events


def once_per_run(events: Iterable[Event]) -> list[Event]:
    """``events`` (oldest first) without the ``schedule_enqueued`` lines a later one of the same run repeats.

    A failed publish leaves a run announced twice (see the module's docstring); the last
    announcement is kept, so an occurrence is counted once and shows where it stands (published
    by recovery, or still failing). Every other event is kept as it is.
    """
    kept = list(events)
    last: dict[str, int] = {}
    for index, event in enumerate(kept):
        if event.get("event") == SCHEDULE_ENQUEUED and event.get("run_id"):
            last[str(event["run_id"])] = index
    return [
        event
        for index, event in enumerate(kept)
        if not (event.get("event") == SCHEDULE_ENQUEUED and event.get("run_id") and last[str(event["run_id"])] != index)
    ]


def index_by(field: str, limit: int = 100, path: str | os.PathLike[str] | None = None) -> dict[str, list[Event]]:
    """The last ``limit`` events grouped by the value of ``field`` (oldest first within a group).

    Events without the field (or with an empty value) are left out; values are keyed as strings.
    A run's repeated announcement (``schedule_enqueued`` again after a failed publish) is left
    out (``once_per_run``), so a group counts each run, and each occurrence, once.
    """
    recent = once_per_run(reversed(last_runs(limit, path)))
    grouped: dict[str, list[Event]] = {}
    for event in recent:
        value = event.get(field)
        if value is None or value == "":
            continue
        grouped.setdefault(str(value), []).append(event)
    return grouped


#: How far back of a run's creation ``events_for_run`` still looks: hosts' clocks disagree a little.
CLOCK_SKEW = timedelta(minutes=5)
_TS_PREFIX = b'{"ts":"'
_STAMP_LENGTH = len("2026-11-23T10:00:00.123Z")


def events_for_run(
    run_id: str | uuid.UUID,
    path: str | os.PathLike[str] | None = None,
    limit: int = 200,
    since: datetime | None = None,
) -> list[Event]:
    """The events of one run, oldest first (scans from the end; bounded by ``limit`` matches).

    ``since`` (the run's creation time) also bounds the scan: it stops at the first line written
    more than ``CLOCK_SKEW`` before it, instead of reading the whole log for a run with few
    events. Only lines that mention the run are parsed.
    """
    wanted = str(run_id)
    needle = wanted.encode("ascii")
    floor = utc_stamp(since - CLOCK_SKEW).encode("ascii") if since is not None else None
    matches: list[Event] = []
    try:
        for line in _lines_backwards(_resolve(path)):
            if floor is not None and line.startswith(_TS_PREFIX):
                stamp = line[len(_TS_PREFIX) : len(_TS_PREFIX) + _STAMP_LENGTH]
                if stamp < floor:  # ISO 8601 stamps of one format sort as text
                    break
            if needle not in line:
                continue
            event = _parse(line)
            if event is not None and str(event.get("run_id", "")) == wanted:
                matches.append(event)
                if len(matches) >= limit:
                    break
    except FileNotFoundError:
        pass
    return list(reversed(matches))


def filter_events(events: Iterable[Event], **equals: str) -> list[Event]:
    """Events whose fields equal the given values (compared as strings)."""
    return [e for e in events if all(str(e.get(key, "")) == value for key, value in equals.items())]
