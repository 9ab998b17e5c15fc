"""Memory and CPU figures of processes from ``/proc`` (Linux), for the bench's own and its workers'."""

from __future__ import annotations

import os
from pathlib import Path


def status_mb(field: str, pid: int | str = "self") -> float:
    """``VmRSS``, ``VmHWM``, ... of ``pid`` in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of ``pid`` so far, in seconds; None once it has gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_role(worker_pid: int) -> dict[str, float]:
    """CPU seconds so far of the worker's main process, its pool processes, PostgreSQL's and Redis's.

    The servers' processes are found by name (every PostgreSQL backend, not only the bench's: the
    bench runs alone). A pool process that ended before this is read is missing from ``pool``.
    """
    totals = {"main": 0.0, "pool": 0.0, "postgres": 0.0, "redis": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            with open(f"/proc/{pid}/stat") as stat:
                head, tail = stat.read().rsplit(")", 1)
        except (FileNotFoundError, ProcessLookupError):
            continue
        name, parent = head.split("(", 1)[1], int(tail.split()[1])
        role = (
            "main" if pid == worker_pid
            else "pool" if parent == worker_pid
            else "postgres" if name.startswith("postgres")
            else "redis" if name.startswith("redis-server")
            else None
        )  # fmt: skip
        seconds = cpu_seconds(pid)
        if role is not None and seconds is not None:
            totals[role] += seconds
    return totals
