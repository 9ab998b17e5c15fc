"""Browser tests: a real web server and worker (``live``) driven by Debian's Chromium through Playwright.

Chromium is ``/usr/bin/chromium`` (``./scripts/test`` installs Debian's package when it is
missing); Playwright's Python package drives it through ``executable_path`` and never downloads a
browser. Every process these fixtures start (the web server, Playwright's driver, Chromium and
its helpers) is stopped by PID when the test ends, also when it failed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import BrowserContext, Page, sync_playwright

from tests.live.conftest import live  # noqa: F401  (the live tier's fixture: this tier starts processes too)
from tests.processes import ROOT, Processes, wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-output" / "e2e"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _processes() -> dict[int, tuple[int, str]]:
    """Every process on the machine: pid -> (parent pid, command line)."""
    found: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        found[int(entry.name)] = (parent, cmdline)
    return found


def _children_of(pid: int) -> set[int]:
    return {child for child, (parent, _cmd) in _processes().items() if parent == pid}


def _kill(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def _browser_logins(production_hashers: None) -> None:
    """The browser logs in to the web server, which checks passwords with the production hashers."""


@pytest.fixture
def web(live: Processes) -> str:  # noqa: F811
    """A real ``manage.py runserver`` (static files served, reloader off) on a free port; its base URL."""
    port = _free_port()
    server = live.manage("web", "runserver", "--noreload", "--insecure", f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if not server.alive():
            raise AssertionError(f"the web server exited:\n{server.tail()}")
        try:
            with urllib.request.urlopen(base + "/accounts/login/", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    wait_until(answering, timeout=30, interval=0.2, message="the web server to answer")
    return base


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BrowserContext]:
    """A fresh headless Chromium profile; Chromium and Playwright's driver are killed by PID afterwards."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/test installs Debian's chromium package")
    # Playwright's sync API keeps an event loop on this thread; the test's own ORM calls are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    profile = tmp_path / "chromium-profile"
    before = _children_of(os.getpid())
    playwright = sync_playwright().start()
    driver = _children_of(os.getpid()) - before
    context: BrowserContext | None = None
    try:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1000},
        )
        context.set_default_timeout(30_000)  # a loaded CI machine; these are liveness bounds
        yield context
    finally:
        # While Playwright runs, the test's ORM calls use database connections of their own (its
        # event loop gives them another context): close them here, in that same context.
        connections.close_all()
        if context is not None:
            with contextlib.suppress(Exception):
                context.close()
        with contextlib.suppress(Exception):
            playwright.stop()
        # Whatever survived the polite shutdown: Chromium's processes (they carry our profile path)
        # and the driver this fixture started.
        leftovers = {pid for pid, (_parent, cmd) in _processes().items() if str(profile) in cmd}
        _kill(leftovers | {pid for pid in driver if pid in _processes()})


@pytest.fixture
def page(browser: BrowserContext) -> Page:
    return browser.pages[0] if browser.pages else browser.new_page()
