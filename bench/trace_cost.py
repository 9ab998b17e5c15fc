"""``--only trace-cost``: what tracing costs end to end (``SCHEDULER_TRACING=otel`` against off).

Each pair prepares M runs (the beat's dispatch in a ``bench.child``, timed) and drains them with a
fresh worker, once with tracing off and once on, alternating which goes first. On, every span is
serialized and written to a file as it ends (``SCHEDULER_TRACING_FILE``, no batching): an upper
bound on what an exporter adds to the processes' own paths; an OTLP exporter batches in a thread.
The figures are the medians over the pairs: the beat's dispatch time per run, and the drain rate.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench import stats
from bench.driver import child, say
from bench.worker_steps import WorkerSettings, drain


def traced_env(env: dict[str, str], spans: Path) -> dict[str, str]:
    return {
        **env,
        "SCHEDULER_TRACING": "otel",
        "OTEL_TRACES_EXPORTER": "none",
        "SCHEDULER_TRACING_FILE": str(spans),
        "OTEL_SERVICE_NAME": "ostinato-bench",
    }


def trace_cost_step(env: dict[str, str], m: int, pairs: int, settings: WorkerSettings) -> dict[str, Any]:
    say(f"== trace cost: {m:,} noop runs with tracing off and on, one worker {settings.describe()}, {pairs} pair(s)")
    measured: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ostinato-trace-cost-") as folder:
        spans = Path(folder) / "spans.jsonl"
        sides = {"off": {**env, "SCHEDULER_TRACING": ""}, "on": traced_env(env, spans)}
        for index in range(pairs):
            pair: dict[str, Any] = {}
            for side in ("on", "off") if index % 2 else ("off", "on"):
                prepared = child(sides[side], "e2e-prepare", "--scheduler", "ours", "-n", m)
                drained = drain(sides[side], m, settings, ours=True)
                pair[side] = {"dispatch_us_per_run": prepared["dispatch_seconds"] * 1e6 / m, "rate": drained["rate"]}
            pair["ratio"] = pair["on"]["rate"] / pair["off"]["rate"]
            measured.append(pair)
            off, on = pair["off"], pair["on"]
            say(
                f"  pair {index + 1}: off {off['rate']:,.0f}/s, dispatch {off['dispatch_us_per_run']:.0f} µs/run; "
                f"on {on['rate']:,.0f}/s, dispatch {on['dispatch_us_per_run']:.0f} µs/run; ratio {pair['ratio']:.2f}"
            )
        written = sum(1 for _ in spans.open()) if spans.exists() else 0
    result: dict[str, Any] = {
        "m": m,
        "pairs": measured,
        "ratio": stats.median([pair["ratio"] for pair in measured]),
        "off": {key: stats.median([pair["off"][key] for pair in measured]) for key in ("rate", "dispatch_us_per_run")},
        "on": {key: stats.median([pair["on"][key] for pair in measured]) for key in ("rate", "dispatch_us_per_run")},
        "spans_written": written,
    }
    say(
        f"  median: end to end {result['off']['rate']:,.0f}/s off, {result['on']['rate']:,.0f}/s on (ratio "
        f"{result['ratio']:.2f}); the beat's dispatch {result['off']['dispatch_us_per_run']:.0f} µs/run off, "
        f"{result['on']['dispatch_us_per_run']:.0f} µs/run on; {written:,} spans written"
    )
    return result
