"""Before and after on a busy machine: this tree's worker path against another checkout's, interleaved.

    git archive <commit> | tar -x -C /tmp/before && ln -s "$PWD/.venv" /tmp/before/.venv
    python -m bench.compare_trees --before /tmp/before worker   # triplets: raw, ours (this tree), ours (before)
    python -m bench.compare_trees --before /tmp/before body     # the run task's body in one process, no Celery

``worker``: each round drains ``-n`` messages three times back to back with a fresh worker
(``-c 2``, the e2e step's settings): the host task sent by ``apply_async``, then our runs of it
executed by this tree's code, then by the other tree's (the order reversed every other round), so
both trees share the minute's load and each gets a raw rate measured beside it. ``body``: the
worker's run task body (``workers.tasks.run``) over ``-n`` dispatched runs in one process, wall
and CPU per run, each tree in turn. The same database and Redis serve both (the trees must share
the migrations). Results go to ``bench/results/<stamp>-compare-<mode>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import stats
from bench.driver import RESULTS, child
from bench.env import ROOT, services
from bench.worker_steps import time_drain

_BODY = r"""
import json, time, django; django.setup()
from bench.child import queued_messages
from workers import tasks
ids = [msg["headers"]["id"] for msg in queued_messages()]
for run_id in ids[:20]: tasks.run.run(run_id, 0)  # the connection, the prepared statements, the imports
ids = ids[20:]
wall, cpu = time.perf_counter(), time.process_time()
for run_id in ids: tasks.run.run(run_id, 0)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"wall_ms": wall / len(ids) * 1000, "cpu_ms": cpu / len(ids) * 1000}))
"""


def drain(env: dict[str, str], tree: str, m: int, *, ours: bool, acks_late: bool) -> float:
    """Runs per second of a fresh ``-c 2`` worker from ``tree`` draining a filled queue (``worker_steps.drain``)."""
    env = {**env, "WORKER_ACKS_LATE": "true" if acks_late else "false", "PYTHONPATH": tree}
    argv = [
        f"{tree}/.venv/bin/celery", "-A", "project", "worker", "-Q", "default", "-c", "2", "-P", "prefork",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-I", "bench.tasks",
        "-l", "WARNING", "-n", f"compare-{time.time_ns()}@%h",
    ]  # fmt: skip
    worker = subprocess.Popen(argv, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return m / time_drain(env, worker, m, ours=ours)


def worker_round(env: dict[str, str], trees: dict[str, str], m: int, index: int, acks_late: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"load_before": os.getloadavg()[0]}
    for side in ("raw", "after", "before") if index % 2 == 0 else ("before", "after", "raw"):
        child(env, "e2e-prepare", "--scheduler", "raw" if side == "raw" else "ours", "-n", m, "--job", "task")
        row[side] = drain(env, trees.get(side, str(ROOT)), m, ours=side != "raw", acks_late=acks_late)
        if side != "raw":
            row[f"{side}_statuses"] = child(env, "e2e-check", "--job", "task")["statuses"]
    row["load_after"] = os.getloadavg()[0]
    row["ratio_after"], row["ratio_before"] = row["after"] / row["raw"], row["before"] / row["raw"]
    print(
        f"round {index + 1}: raw {row['raw']:,.0f}/s, after {row['after']:,.0f}/s ({row['ratio_after']:.2f}), "
        f"before {row['before']:,.0f}/s ({row['ratio_before']:.2f}); load {row['load_before']:.1f} -> "
        f"{row['load_after']:.1f}; statuses {row['after_statuses']} {row['before_statuses']}",
        flush=True,
    )
    return row


def body_round(env: dict[str, str], trees: dict[str, str], m: int, index: int) -> dict[str, Any]:
    row: dict[str, Any] = {"load_before": os.getloadavg()[0]}
    for side in ("after", "before") if index % 2 == 0 else ("before", "after"):
        child(env, "e2e-prepare", "--scheduler", "ours", "-n", m, "--job", "task")
        tree = trees[side]
        ran = subprocess.run(
            [f"{tree}/.venv/bin/python", "-c", _BODY],
            cwd=tree,
            env={**env, "PYTHONPATH": tree},
            check=True,
            capture_output=True,
            text=True,
        )
        row[side] = json.loads(ran.stdout.strip().splitlines()[-1])
    print(
        f"round {index + 1}: after {row['after']['wall_ms']:.2f} ms wall, {row['after']['cpu_ms']:.2f} ms CPU; "
        f"before {row['before']['wall_ms']:.2f} / {row['before']['cpu_ms']:.2f}; load {row['load_before']:.1f}",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["worker", "body"])
    parser.add_argument("--before", required=True, help="the other checkout (with its own .venv link)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("-n", type=int, default=1000, help="messages (worker) or runs (body) per side and round")
    parser.add_argument("--acks", choices=["late", "start"], default="late", help="worker: WORKER_ACKS_LATE")
    args = parser.parse_args()
    trees = {"after": str(ROOT), "before": str(Path(args.before).resolve())}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    rows = []
    with services() as env:
        for index in range(args.rounds):
            if args.mode == "worker":
                rows.append(worker_round(env, trees, args.n, index, args.acks == "late"))
            else:
                rows.append(body_round(env, trees, args.n, index))
    if args.mode == "worker":
        medians = {key: stats.median([row[key] for row in rows]) for key in ("ratio_after", "ratio_before", "raw")} | {
            "after_over_before": stats.median([row["after"] / row["before"] for row in rows])
        }
    else:
        medians = {
            f"{side}_{key}": stats.median([row[side][key] for row in rows])
            for side in ("after", "before")
            for key in ("wall_ms", "cpu_ms")
        }
    print(f"medians: {json.dumps(medians)}", flush=True)
    path = RESULTS / f"{stamp}-compare-{args.mode}.json"
    report = {"mode": args.mode, "stamp": stamp, "before": trees["before"], "n": args.n, "acks": args.acks}
    path.write_text(json.dumps({**report, "rounds": rows, "medians": medians}, indent=2))
    print(f"results in {path.relative_to(ROOT)}", flush=True)


if __name__ == "__main__":
    main()
