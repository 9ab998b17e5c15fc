"""Ids drawn from a per-thread block of OS randomness: valid, distinct, and never shared across a fork or threads."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime, timedelta

from orchestrator import ids


def test_uuid4_is_a_version_4_uuid_and_never_repeats_across_blocks() -> None:
    drawn = [ids.uuid4() for _ in range(ids.BLOCK_IDS * 3 + 7)]
    assert all(isinstance(value, uuid.UUID) and value.version == 4 for value in drawn)
    assert all(value.variant == uuid.RFC_4122 for value in drawn)
    assert len(set(drawn)) == len(drawn)


def test_uuid7_carries_its_millisecond_first_so_later_runs_sort_after() -> None:
    """Run ids in creation order: new runs land on the primary key's newest leaves, not on random ones."""
    start = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    moments = [start + timedelta(milliseconds=step) for step in range(0, 3000, 7)]
    drawn = [ids.uuid7(moment) for moment in moments]
    assert all(value.version == 7 and value.variant == uuid.RFC_4122 for value in drawn)
    assert drawn == sorted(drawn) and [value.bytes for value in drawn] == sorted(value.bytes for value in drawn)
    assert all(value.int >> 80 == int(moment.timestamp() * 1000) for value, moment in zip(drawn, moments, strict=True))
    same = {ids.uuid7(start) for _ in range(ids.BLOCK_IDS * 2)}
    assert len(same) == ids.BLOCK_IDS * 2, "74 random bits: ids of one millisecond do not collide"
    assert ids.uuid7_now().version == 7


def test_uuid4_text_is_uuid_shaped() -> None:
    text = ids.uuid4_text()
    assert [len(part) for part in text.split("-")] == [8, 4, 4, 4, 12]
    uuid.UUID(text)  # parses


def test_threads_draw_from_their_own_blocks() -> None:
    ids.uuid4()  # this thread's block is now partly used
    seen: list[uuid.UUID] = []
    lock = threading.Lock()

    def draw() -> None:
        mine = [ids.uuid4() for _ in range(50)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen += [ids.uuid4() for _ in range(50)]
    assert len(set(seen)) == len(seen) == 250


def test_a_forked_child_does_not_reuse_the_parents_unused_bytes() -> None:
    ids.uuid4()  # the parent holds a block with unused ids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id, then leave without running the test machinery
        os.write(write, ids.uuid4().bytes)
        os._exit(0)
    os.close(write)
    try:
        child_id = uuid.UUID(bytes=os.read(read, 16))
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert child_id != ids.uuid4()
