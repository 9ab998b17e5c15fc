"""The bench's CPU figures by kind of process (``bench.procfs.cpu_by_role``), read from ``/proc``."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.procfs import cpu_by_role, cpu_seconds

#: A child that spends 0.3 s of CPU, says so, then stays alive (an ended process is not counted).
SPIN = """
import time
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
print("spun", flush=True)
time.sleep(30)
"""


def test_a_child_of_the_worker_counts_as_pool_and_the_worker_itself_as_main():
    before = cpu_by_role(worker_pid=-1)  # no such process: nothing is main or pool
    assert before["main"] == 0 and before["pool"] == 0
    child = subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"spun\n"
        mine = cpu_by_role(worker_pid=os.getpid())
        assert mine["pool"] >= 0.25, "the child's 0.3 s of CPU"
        assert abs(mine["main"] - (cpu_seconds(os.getpid()) or 0)) < 0.05
        assert mine["postgres"] > 0 and mine["redis"] > 0, "the machine's servers are running"
    finally:
        child.kill()
        child.communicate()
    assert cpu_seconds(child.pid) is None, "a process that has gone has no figure"
