"""A bench run drops the databases killed bench runs left in free slots, never one a running run holds."""

from __future__ import annotations

import psycopg

from bench.env import PG, drop_orphans
from tests.slots import SLOTS, take_slot, try_slot

PREFIX = "ostinato_orphan_test"


def _databases() -> set[str]:
    with psycopg.connect(PG, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", [PREFIX])
        return {str(row[0]) for row in rows}


def _create(name: str) -> None:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def test_an_orphan_in_a_free_slot_is_dropped_and_a_held_slots_database_is_kept():
    found = take_slot()
    assert found is not None, "no free slot"
    held_slot, held = found
    try:
        free_slot = next(slot for slot in SLOTS if slot != held_slot and _is_free(slot))
        held_name, orphan_name = f"{PREFIX}_s{held_slot}", f"{PREFIX}_s{free_slot}"
        _create(held_name)
        _create(orphan_name)
        assert drop_orphans(PREFIX) == [orphan_name]
        assert _databases() == {held_name}, "the held slot's database stays"
        assert drop_orphans(PREFIX) == [], "nothing left to drop"
    finally:
        held.close()
        assert drop_orphans(PREFIX) == [f"{PREFIX}_s{held_slot}"], "freed, its database is an orphan too"
    assert _databases() == set()


def _is_free(slot: int) -> bool:
    handle = try_slot(slot)
    if handle is None:
        return False
    handle.close()
    return True


def test_probing_a_held_slot_keeps_its_holders_pid():
    found = take_slot()
    assert found is not None, "no free slot"
    slot, held = found
    try:
        path = held.name
        with open(path) as lock:
            before = lock.read()
        assert try_slot(slot) is None
        with open(path) as lock:
            assert lock.read() == before != ""
    finally:
        held.close()
