"""``workers.timers.prune_cancelled`` on a real kombu ``Timer``: cancelled entries go, the rest keep their order."""

from __future__ import annotations

from time import monotonic

from kombu.asynchronous.timer import Timer

from workers.timers import census, prune_cancelled


def test_cancelled_entries_are_dropped_and_the_rest_still_fire_in_order():
    timer = Timer()
    fired: list[int] = []
    base = monotonic() - 1  # every entry already due; ETAs fixed here, not by when each call ran
    entries = [timer.call_at(base + 0.001 * (i % 7), fired.append, (i,)) for i in range(50)]
    for i, entry in enumerate(entries):
        if i % 5:
            entry.cancel()
    kept = [i for i in range(50) if i % 5 == 0]
    assert census(timer) == {"entries": 50, "cancelled": 40}

    assert prune_cancelled(timer) == 40
    assert census(timer) == {"entries": 10, "cancelled": 0}
    assert prune_cancelled(timer) == 0

    queue = timer._queue
    ticks = iter(timer)
    while queue:
        _delay, entry = next(ticks)
        if entry is not None:
            timer.apply_entry(entry)
    assert sorted(fired) == kept
    etas = [0.001 * (i % 7) for i in fired]
    assert etas == sorted(etas), "the heap still hands entries out by their time"
