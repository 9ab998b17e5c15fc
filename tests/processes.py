"""Real processes for integration tests: Celery workers and beats, management commands, servers.

Every process is started in its own session and stopped by its PID (the whole process group:
a Celery worker's pool children too) when the fixture that started it ends, also when the test
failed. Output goes to a log file per process; a failed test prints the tails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, message: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``message`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate!r} (last value: {last!r})")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no output)"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (SIGKILL by default: a crash, no cleanup)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        if sig == signal.SIGKILL:
            self.popen.wait(timeout=10)

    def terminate(self, timeout: float = 30.0) -> int:
        """Stop it gracefully: SIGTERM the group and wait for it to exit by itself; its exit code.

        Unlike ``stop``, a process that does not exit within ``timeout`` fails the test (it is
        killed first): what it does on a graceful stop (a beat writing its state) is then unknown.
        """
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(timeout=0)
            raise AssertionError(f"{self.name} did not exit within {timeout}s of SIGTERM:\n{self.tail()}") from None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the group, wait, then SIGKILL whatever is left."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)


@dataclass
class Processes:
    """Starts processes with a common environment; ``stop_all`` ends every one of them."""

    env: dict[str, str]
    logs: Path
    started: list[Proc] = field(default_factory=list)

    def start(
        self, name: str, argv: list[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> Proc:
        """Start ``argv`` in ``cwd`` (the repository by default) with the common environment plus ``env``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}-{len(self.started)}.log"
        handle = open(log, "wb")  # noqa: SIM115 (handed to the child, closed right after)
        popen = subprocess.Popen(
            argv,
            cwd=cwd or ROOT,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        proc = Proc(name=name, popen=popen, log=log)
        self.started.append(proc)
        return proc

    def worker(
        self,
        name: str = "worker",
        *,
        queues: str = "default",
        concurrency: int = 2,
        env: Mapping[str, str] | None = None,
        extra: list[str] | None = None,
    ) -> Proc:
        return self.start(
            name,
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "project",
                "worker",
                "-Q",
                queues,
                "-c",
                str(concurrency),
                "-n",
                f"{name}-{os.getpid()}-{len(self.started)}@%h",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "info",
                *(extra or []),
            ],
            env=env,
        )

    def beat(self, name: str = "beat", *, env: Mapping[str, str] | None = None) -> Proc:
        return self.start(
            name,
            [PYTHON, "-m", "celery", "-A", "project", "beat", "-l", "info", "--pidfile="],
            env=env,
        )

    def manage(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> Proc:
        return self.start(name, [PYTHON, "manage.py", *args], env=env)

    def run_manage(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> str:
        """Run a management command to completion; return its output, failing on a non-zero exit."""
        done = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def run_celery(self, *args: str, timeout: float = 60) -> str:
        """Run a Celery CLI command (``celery -A project ...``) to completion; return its output."""
        done = subprocess.run(
            [PYTHON, "-m", "celery", "-A", "project", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"celery {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def stop_all(self, timeout: float = 15.0) -> None:
        """SIGTERM every process group at once, wait for them together, SIGKILL what is left.

        Side by side rather than one after another: a worker's warm shutdown takes seconds, and
        a test with two beats, two workers and a web server spent their sum in its teardown.
        """
        alive = [proc for proc in reversed(self.started) if proc.alive()]
        for proc in alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in alive:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        for proc in self.started:
            proc.stop(timeout=0)

    def kill_all(self) -> None:
        """SIGKILL every process group at once and reap them: the end of a test that no longer needs them.

        A test over has nothing to learn from how its processes stop (tests that check a graceful
        stop call ``Proc.terminate`` themselves); their output is unbuffered, so nothing is lost.
        """
        for proc in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
        for proc in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=10)

    def report(self) -> str:
        return "\n\n".join(f"--- {p.name} (pid {p.pid}) log tail ---\n{p.tail()}" for p in self.started)


def iter_lines(path: Path) -> Iterator[str]:
    if path.exists():
        yield from path.read_text(errors="replace").splitlines()
