"""Run ids (time-ordered UUIDs), random UUIDs and tags drawn from the operating system in blocks.

Run ids are version 7 UUIDs (RFC 9562): the run's creation time in Unix milliseconds, then 74
random bits. A random (version 4) id puts each new run on a random leaf of the runs' primary key
and of the occurrences' ``run_id`` index: once those outgrow PostgreSQL's buffers (3 million runs
with the default 128 MB) nearly every insert read a leaf from outside them and wrote it whole to
the WAL after each checkpoint (2.3 full-page images and 16 kB of WAL a run at 3 million, against
0.03 and 2.8 kB with time-ordered ids), and the write path grew with the history. New ids land
on the indexes' newest leaves, which stay in memory. An id still says nothing guessable beyond
its run's creation time to the millisecond, which every door shows anyway.

``uuid.uuid4()`` asks the kernel for 16 bytes each time. On the machines we measure, that system
call was the single largest cost of planning a run in a burst (20 µs of a ~200 µs occurrence).
Here one call fetches ``BLOCK_IDS`` ids' worth of bytes, per thread; the bytes come from the same
source (``os.urandom``), so the ids are exactly as random as ``uuid4()``'s.

A forked child discards its parent's unused bytes, so parent and child never hand out the same id.
"""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime

#: Ids per system call.
BLOCK_IDS = 256
_BLOCK_BYTES = 16 * BLOCK_IDS


class _Pool(threading.local):
    block = b""
    offset = _BLOCK_BYTES


_pool = _Pool()


def _forget_in_child() -> None:
    global _pool
    _pool = _Pool()  # a fresh thread-local: no thread of the child sees the parent's bytes


os.register_at_fork(after_in_child=_forget_in_child)


def random_bytes16() -> bytes:
    """16 random bytes from ``os.urandom``, taken from this thread's current block."""
    pool = _pool
    offset = pool.offset
    if offset >= _BLOCK_BYTES:
        pool.block = os.urandom(_BLOCK_BYTES)
        offset = 0
    pool.offset = offset + 16
    return pool.block[offset : offset + 16]


_VERSION_7 = 7 << 76
_VARIANT_RFC = 2 << 62
_RANDOM_74 = (1 << 74) - 1


def uuid7(at: datetime) -> uuid.UUID:
    """A time-ordered (version 7) UUID for a row created at ``at`` (aware): its Unix milliseconds
    in the first 48 bits, 74 random bits after (ids of the same millisecond are in random order)."""
    millis = int(at.timestamp() * 1000) & 0xFFFF_FFFF_FFFF
    random = int.from_bytes(random_bytes16()[:10], "big") & _RANDOM_74
    high = (random >> 62) << 64  # 12 bits after the version field: rand_a
    low = random & ((1 << 62) - 1)  # 62 bits after the variant: rand_b
    return uuid.UUID(int=(millis << 80) | _VERSION_7 | high | _VARIANT_RFC | low)


def uuid7_now() -> uuid.UUID:
    """``uuid7`` of this instant: the default of ``Run.id`` for rows made outside the planned paths."""
    return uuid7(datetime.now(UTC))


def short(run_id: object) -> str:
    """A run's id as the lists and messages show it: its last 8 hex digits (random bits).

    Not its first 8: those of a time-ordered id are its creation time, the same for every run of
    the same minute. The admin's run search finds a run by them (the id is searched as text).
    """
    return str(run_id)[-8:]


def uuid4() -> uuid.UUID:
    """A random (version 4) UUID, as ``uuid.uuid4()``."""
    return uuid.UUID(bytes=random_bytes16(), version=4)


def uuid4_text() -> str:
    """A random UUID-shaped string (version bits not set), as kombu's delivery tags; cheaper than ``str(uuid4())``."""
    raw = random_bytes16().hex()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
