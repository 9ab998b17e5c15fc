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


def _stat(pid: int) -> tuple[str, list[str]] | None:
    """``/proc/<pid>/stat``: the command name and the fields after it (state first); None once it has gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            head, tail = stat.read().rsplit(")", 1)
    except (FileNotFoundError, ProcessLookupError):
        return None
    return head.split("(", 1)[1], tail.split()


def _cpu(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, in clock ticks


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of ``pid`` so far, in seconds; None once it has gone."""
    found = _stat(pid)
    return None if found is None else _cpu(found[1])


def cpu_by_role(worker_pid: int) -> dict[str, float]:
    """CPU seconds so far of the worker's main process, its pool processes, PostgreSQL's and Redis's.

    The servers' processes are found by name (every PostgreSQL backend, not only the bench's: the
    bench runs alone). A pool process that ended before this is read is missing from ``pool``.
    """
    totals = {"main": 0.0, "pool": 0.0, "postgres": 0.0, "redis": 0.0}
    for entry in Path("/proc").iterdir():
        found = _stat(int(entry.name)) if entry.name.isdigit() else None
        if found is None:
            continue
        name, fields = found
        role = (
            "main" if int(entry.name) == worker_pid
            else "pool" if int(fields[1]) == worker_pid
            else "postgres" if name.startswith("postgres")
            else "redis" if name.startswith("redis-server")
            else None
        )  # fmt: skip
        if role is not None:
            totals[role] += _cpu(fields)
    return totals
