"""The README's command blocks work as written against a running demo.

A demo (``manage.py demo``, SQLite under a var/ of the test's own and the embedded Redis) runs;
each chosen block of README.md is run by bash, line by line, with ``python`` and ``celery`` as
this checkout's and the demo's port in place of ``localhost:8000``. A line fails the test when it
exits non-zero (curl with ``--fail-with-body``: an HTTP error fails too). Left out: lines with a
placeholder in capitals (``NAME``, ``USERNAME``, ``TASK_ID``) and lines that run until stopped
(``tail -f``, ``events tail``, ``--watch``), and lines marked "PostgreSQL only".
"""

from __future__ import annotations

import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from tests.live.test_demo_defaults import demo_env  # noqa: F401  (the demo's own var/, no PostgreSQL)
from tests.processes import PYTHON, ROOT, wait_until

README = ROOT / "README.md"
#: (the heading the block follows, the block's first command): the blocks run against the demo, in order.
BLOCKS = [
    ("## REST API", "python manage.py api_token"),
    ("## REST API", "curl -H"),
    ("## Schedules as code", "python manage.py sync_schedules"),
    ("### Inspecting", "python manage.py schedules"),
]
PLACEHOLDER = re.compile(r"\b(NAME|USERNAME|TASK_ID)\b")
RUNS_UNTIL_STOPPED = ("tail -f", "events tail", "--watch")
#: A line whose comment says it needs PostgreSQL (the demo runs on SQLite).
POSTGRESQL_ONLY = "(PostgreSQL only"


def bash_blocks(text: str) -> list[tuple[str, str]]:
    """Every ```bash block of the README with the heading above it."""
    found: list[tuple[str, str]] = []
    lines: list[str] = []
    heading, inside = "", False
    for line in text.splitlines():
        if not inside and line.startswith("#"):
            heading = line.strip()
        elif not inside and line.strip() == "```bash":
            inside, lines = True, []
        elif inside and line.strip() == "```":
            inside = False
            found.append((heading, "\n".join(lines)))
        elif inside:
            lines.append(line)
    return found


def commands(block: str) -> list[str]:
    """The block's commands (continuation lines joined, comments dropped), minus those left out."""
    joined = re.sub(r"\\\n\s*", " ", block)
    result = []
    for line in joined.splitlines():
        if POSTGRESQL_ONLY in line:
            continue
        command = re.sub(r"\s+#\s.*$", "", line).strip()
        if not command or command.startswith("#") or PLACEHOLDER.search(command):
            continue
        if any(marker in command for marker in RUNS_UNTIL_STOPPED):
            continue
        result.append(command)
    return result


def chosen_blocks() -> list[list[str]]:
    blocks = bash_blocks(README.read_text())
    chosen = []
    for heading, first in BLOCKS:
        match = [block for title, block in blocks if title == heading and block.lstrip().startswith(first)]
        assert match, f"README has no block under {heading!r} starting with {first!r}"
        chosen.append(commands(match[0]))
    return chosen


def test_the_readme_blocks_are_found_and_read() -> None:
    blocks = chosen_blocks()
    assert blocks[1][0].startswith("curl -H") and "api-nightly-report" in blocks[1][0]
    assert all("--watch" not in command for block in blocks for command in block)
    assert "python manage.py sync_schedules configs/schedules/ --dry-run" in blocks[2]


def test_every_readme_block_works_against_a_running_demo(demo_env, tmp_path: Path) -> None:  # noqa: F811
    procs, _var = demo_env
    demo = procs.manage("demo", "demo", "--for", "600", "--port", "0")
    wait_until(lambda: "Ostinato demo is running" in demo.output(), timeout=120, message="the demo to start")
    port = re.search(r"http://127\.0\.0\.1:(\d+)/admin/", demo.output())
    assert port is not None, demo.output()
    base = f"http://127.0.0.1:{port.group(1)}"

    def answering() -> bool:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    wait_until(answering, timeout=60, interval=0.3, message="the demo's web server to answer")
    prelude = "\n".join(
        [
            "set -euo pipefail",
            f'python() {{ "{PYTHON}" "$@"; }}',
            f'celery() {{ "{PYTHON}" -m celery "$@"; }}',
            'curl() { command curl --fail-with-body -sS "$@"; echo; }',
        ]
    )
    state = tmp_path / "state.sh"  # what one block leaves for the next (the TOKEN)
    state.write_text("")
    for block in chosen_blocks():
        for command in block:
            line = command.replace("http://localhost:8000", base)
            keep = f"declare -p TOKEN > {state}" if "TOKEN=" in line else ""
            script = f"{prelude}\nsource {state}\n{line}\n{keep}"
            done = subprocess.run(
                ["bash", "-c", script],
                cwd=ROOT,
                env=procs.env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, (
                f"{command}\nexit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            )
            if "inspect runs" in command:
                assert "time_start" not in done.stdout
    assert demo.alive(), demo.tail()
