"""What every step of the bench's driver (``bench.run``) shares: a step in a fresh child process, printing.

``child`` runs ``python -m bench.child STEP ...`` and returns the JSON line it printed; ``RESULTS``
is where the results and profiles go.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from bench.env import ROOT

RESULTS = ROOT / "bench" / "results"


def child(env: dict[str, str], step: str, *options: Any, timeout: float = 1800, stderr: bool = False) -> dict[str, Any]:
    """``stderr``: let the step's progress lines through as they come instead of keeping them for a failure."""
    argv = [sys.executable, "-m", "bench.child", step, *[str(o) for o in options]]
    done = subprocess.run(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=None if stderr else subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr or "")
        raise SystemExit(f"error: bench step {' '.join(argv[3:])} failed (exit {done.returncode})")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def say(line: str = "") -> None:
    print(line, flush=True)


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}x"
