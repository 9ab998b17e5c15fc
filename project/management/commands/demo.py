"""``manage.py demo``: migrate, create a login, load examples, run web + beat + worker, show runs.

The children are started with ``PR_SET_PDEATHSIG``: if this process dies, however it dies, they
get SIGTERM, and the embedded Redis (when ``REDIS_URL`` is unset) stops once none of them is left.
"""

from __future__ import annotations

import ctypes
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from project import demo, demo_lock
from project.redis import ensure_embedded

_PR_SET_PDEATHSIG = 1
#: What the live feed prints: every way a run or an occurrence ends (a cancelled run included).
FEED_EVENTS = ("run_finished", "run_cancelled", "run_skipped", "run_missed", "run_retried")


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port(host: str, preferred: int) -> int:
    for port in [preferred, *range(preferred + 1, preferred + 50)] if preferred else [0]:
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise CommandError(f"no free port near {preferred} on {host}")


def _clear_metrics_folder() -> None:
    """Start with an empty metrics folder, as prometheus_client's multiprocess mode expects.

    Every process leaves a file there; without this a demo reported the previous demo's counts
    as its own, and the folder grew with every run.
    """
    for stale in Path(settings.METRICS_MULTIPROC_DIR).glob("*.db"):
        stale.unlink(missing_ok=True)


class Command(BaseCommand):
    help = "Run the whole system locally (embedded defaults) and print runs as they happen."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000, help="web port (the next free one if taken)")
        parser.add_argument(
            "--for", dest="duration", type=float, default=0, help="stop after N seconds (0: run until Ctrl-C)"
        )
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes")

    def handle(self, *args: Any, **options: Any) -> None:
        try:  # before anything is written: a second demo leaves the first one's files alone
            lock = demo_lock.acquire(Path(settings.VAR_DIR))
        except demo_lock.DemoAlreadyRunning as exc:
            raise CommandError(str(exc)) from None
        try:
            self._run(lock, options)
        finally:
            lock.release()

    def _run(self, lock: demo_lock.DemoLock, options: dict[str, Any]) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        username, password = demo.ensure_admin()
        created = demo.load_schedules()
        ensure_embedded()
        logs = Path(settings.VAR_DIR) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        _clear_metrics_folder()
        port = _free_port(options["host"], options["port"])
        python = sys.executable
        level = settings.LOG_LEVEL.lower()  # Celery's -l would otherwise override LOG_LEVEL in beat and worker
        commands = {
            "web": [python, "manage.py", "runserver", f"{options['host']}:{port}", "--noreload"],
            "beat": [python, "-m", "celery", "-A", "project", "beat", "-l", level, "--pidfile="],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "project",
                "worker",
                "-Q",
                "default",
                "-l",
                level,
                "-c",
                str(options["concurrency"]),
                "-n",
                "demo@%h",
                "--without-gossip",
                "--without-mingle",
            ],
        }
        children: dict[str, subprocess.Popen[bytes]] = {}
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        events_path = Path(settings.EVENTS_PATH)
        offset = events_path.stat().st_size if events_path.exists() else 0
        try:
            for name, argv in commands.items():
                with open(logs / f"{name}.log", "ab") as log:
                    children[name] = subprocess.Popen(
                        argv,
                        cwd=settings.BASE_DIR,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        preexec_fn=_die_with_parent,
                    )
            lock.describe(url=f"http://{options['host']}:{port}/admin/")
            database = settings.DATABASES["default"]
            self.stdout.write(
                "\n".join(
                    [
                        "",
                        "Ostinato demo is running.",
                        f"  admin:     http://{options['host']}:{port}/admin/   login {username} / {password}",
                        f"  database:  {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}",
                        f"  redis:     {settings.REDIS_URL}" + ("  (embedded)" if settings.EMBEDDED_REDIS_DIR else ""),
                        f"  events:    {events_path}",
                        f"  logs:      {logs}/{{web,beat,worker}}.log",
                        f"  schedules: {', '.join(s['name'] for s in demo.DEMO_SCHEDULES)}"
                        + (f" (created {', '.join(created)})" if created else ""),
                        "Runs appear below as they finish. Ctrl-C to stop.",
                        "",
                    ]
                )
            )
            self.stdout.flush()
            deadline = time.monotonic() + options["duration"] if options["duration"] else None
            while not stopping and (deadline is None or time.monotonic() < deadline):
                for name, child in children.items():
                    if child.poll() is not None:
                        tail = (logs / f"{name}.log").read_text(errors="replace").splitlines()[-20:]
                        raise CommandError(f"{name} exited with {child.returncode}:\n" + "\n".join(tail))
                offset = self._print_new_events(events_path, offset)
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.terminate()
            for child in children.values():
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
            self.stdout.write("demo stopped")

    def _print_new_events(self, path: Path, offset: int) -> int:
        if not path.exists():
            return offset
        with open(path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        for raw in complete.splitlines():
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            line = feed_line(event) if isinstance(event, dict) else None
            if line is not None:
                self.stdout.write(line)
        self.stdout.flush()
        return offset + len(complete)


def feed_line(event: dict[str, Any]) -> str | None:
    """The live feed's line for one event (None for events it does not print)."""
    if event.get("event") not in FEED_EVENTS:
        return None
    stamp = str(event.get("ts", ""))[11:19]
    detail = event.get("status") or event.get("reason") or ""
    duration = f" {event['duration_ms']}ms" if "duration_ms" in event else ""
    why = event.get("error") or (event.get("reason") if event.get("event") == "run_cancelled" else "")
    extra = f"  {why}" if why else ""
    return (
        f"{stamp} {event['event']:<13} {event.get('schedule') or '-'!s:<16} "
        f"{event.get('job', ''):<11} {detail}{duration}{extra}"
    )
