"""Memory figures of a process from ``/proc/<pid>/status`` (Linux), for the bench's own and its workers'."""

from __future__ import annotations


def status_mb(field: str, pid: int | str = "self") -> float:
    """``VmRSS``, ``VmHWM``, ... of ``pid`` in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")
