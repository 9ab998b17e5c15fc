"""The soak script in smoke mode: the same code as the 10-minute soak, shortened (``bench/soak.py --smoke``).

Three beats and two workers under 30 schedules of 1 to 5 seconds for 12 s, a beat or worker
SIGKILLed every 3 s on average. The script uses its own database and Redis server and removes them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.processes import ROOT


@pytest.mark.timeout(240)
def test_soak_smoke_no_duplicate_no_absent_limits_held():
    done = subprocess.run(
        [sys.executable, "bench/soak.py", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("SOAK-JSON ")]
    assert lines, f"no figures (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    figures = json.loads(lines[-1].removeprefix("SOAK-JSON "))
    print("\n" + "\n".join(line for line in done.stdout.splitlines() if not line.startswith("SOAK-JSON ")))
    assert sum(figures["kills"].values()) >= 2
    assert figures["due"] > 50
    assert figures["duplicates"] == 0
    assert figures["absent"] == 0 and figures["unexpected"] == 0
    assert figures["peak_over_limit"] == [] and figures["peaks"]["job:sleep"]["runs"] > 0
    assert figures["stuck"] == 0, "nothing left pending, running, or queued behind a live worker"
    # a killed worker may take a fetched message with it (docs/RELIABILITY.md, "Known limits")
    assert figures["queued_message_gone"] <= figures["kills"].get("worker", 0)
    assert done.returncode == 0
