"""One demo at a time per ``var/`` folder: a second ``manage.py demo`` says so at once and exits.

The running demo holds an exclusive ``flock`` on ``var/demo.lock`` for its whole life (the kernel
drops it when the process dies, however it dies) and writes its pid and address into it. A second
demo opens the file without truncating it, fails to take the lock, reads who holds it and stops
before it migrates, writes or starts anything: the first demo's files stay as they were.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path


class DemoAlreadyRunning(Exception):
    def __init__(self, holder: dict[str, object]) -> None:
        self.holder = holder
        pid = holder.get("pid", "?")
        url = holder.get("url") or "its address is not known yet"
        super().__init__(
            f"a demo is already running from this folder (pid {pid}, {url}); use that one, or stop it "
            "(Ctrl-C in its terminal) before starting another"
        )


@dataclass
class DemoLock:
    path: Path
    fd: int

    def describe(self, **fields: object) -> None:
        """Record who holds the lock (the pid and what else is known, e.g. the web address)."""
        data = json.dumps({"pid": os.getpid(), **fields}).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def release(self) -> None:
        os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def acquire(var_dir: Path) -> DemoLock:
    """Take the demo lock of ``var_dir``, or raise ``DemoAlreadyRunning`` naming the holder."""
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / "demo.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)  # never O_TRUNC: it may be another's
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        except ValueError:
            holder = {}
        os.close(fd)
        raise DemoAlreadyRunning(holder if isinstance(holder, dict) else {}) from None
    lock = DemoLock(path=path, fd=fd)
    lock.describe()
    return lock
