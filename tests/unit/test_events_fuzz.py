"""The JSONL readers fed corrupted, truncated and hostile lines: they skip them and never raise."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from orchestrator import event_tail, events

GOOD = [{"event": "run_finished", "n": index} for index in range(3)]


def _write(path: Path, junk: list[bytes]) -> None:
    """Good events interleaved with junk lines; the last junk is left without its newline (a torn write)."""
    with open(path, "wb") as handle:
        for event, bad in zip(GOOD, junk, strict=False):
            handle.write(json.dumps(event).encode() + b"\n")
            handle.write(bad.replace(b"\n", b" ") + b"\n")
        for event in GOOD[len(junk) :]:
            handle.write(json.dumps(event).encode() + b"\n")
        if junk:
            handle.write(junk[-1].replace(b"\n", b" "))


def _readers(path: Path) -> dict[str, list[events.Event]]:
    return {
        "iter_events": list(events.iter_events(path)),
        "backwards": list(reversed(list(events.iter_events_backwards(path)))),
        "tail": list(event_tail.follow(path, initial=1000, stop=lambda: True)),
    }


def _real(found: list[events.Event]) -> list[events.Event]:
    return [event for event in found if event in GOOD]


HOSTILE = [
    b"[" * 100_000,  # nested past the recursion limit
    b'{"n": ' + b"9" * 5000 + b"}",  # an integer past Python's digit limit
    b"\xff\xfe\x00\x01binary",
    b'{"event": "torn", "run_',
    b'"just a string"',
    b"null",
    b"{}" * 3,
    b"\x00" * 64,
]


def test_hostile_lines_are_skipped_by_every_reader(tmp_path: Path):
    path = tmp_path / "state.jsonl"
    _write(path, HOSTILE)
    for reader, found in _readers(path).items():
        assert _real(found) == GOOD, reader
        assert all(isinstance(event, dict) for event in found), reader


@given(junk=st.lists(st.binary(max_size=200), max_size=6))
def test_random_binary_lines_never_break_a_reader(tmp_path_factory, junk):
    path = tmp_path_factory.mktemp("fuzz") / "state.jsonl"
    _write(path, junk)
    for reader, found in _readers(path).items():
        assert _real(found) == GOOD, reader


@given(cut=st.integers(min_value=0, max_value=400))
def test_a_log_truncated_anywhere_yields_a_prefix_of_its_events(tmp_path_factory, cut):
    path = tmp_path_factory.mktemp("cut") / "state.jsonl"
    whole = b"".join(json.dumps(event).encode() + b"\n" for event in GOOD * 5)
    path.write_bytes(whole[:cut])
    complete = whole[:cut].count(b"\n")
    for reader, found in _readers(path).items():
        # A torn last line may still parse when the cut falls right after its closing brace.
        assert found[:complete] == (GOOD * 5)[:complete], reader
        assert len(found) in (complete, complete + 1), reader
