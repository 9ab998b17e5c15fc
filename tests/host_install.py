"""Ostinato as a host project gets it: a wheel built from this checkout, installed (not editable) into a
fresh virtual environment beside the host's own pinned requirements.

Three steps, each timed (``Install.seconds``):

* **wheel**: the files a wheel is built from (``pyproject.toml``, ``README.md`` and the three apps)
  are copied to a temporary folder and ``pip wheel --no-deps`` builds there, so the build's
  ``build/`` and ``*.egg-info`` never land in the checkout.
* **requirements**: a virtual environment with the example's ``requirements.txt`` and the wheel's
  own pinned dependencies (``pip install -r requirements.txt ostinato-*.whl``, then the wheel
  uninstalled again, so only the dependencies stay). Building it takes most of the time, so it is
  kept under a cache folder keyed by the hash of pyproject.toml's dependencies, the example's
  requirements and the Python version (``~/.cache/ostinato-tests/host-requirements-<key>``, or under
  ``OSTINATO_TEST_CACHE``), built once under a lock and never changed after; older keys are
  removed. ``OSTINATO_HOST_VENV_CACHE=0`` builds it inside the test's own folder instead (cold).
* **fresh venv**: a new virtual environment for every test run, which reaches the requirements
  through a ``.pth`` file (``site.addsitedir``) and gets the wheel installed into it with
  ``pip install --no-deps``; ``pip check`` then confirms the wheel's requirements are all met. So
  Ostinato itself is always installed fresh from this checkout's code, and no two test runs (of
  any worktree) ever share or change an installed copy.

The shared development venv is never installed into: its pip installs into the new environments
through ``pip --python``.

``host_project`` then runs the example as a host runs it: a copy of ``examples/host_project`` in the
test's folder, the fresh venv's interpreter, a PostgreSQL database of the test's own (made and
dropped there) and this session's Redis database, with its processes (``Host.start``) stopped by
PID when it ends. Nothing of the checkout is on the processes' path, and their environment has no
``SCHEDULER_*`` name.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests.processes import ROOT, Proc, Processes
from tests.testenv import PG_HOST, PG_PORT, PG_USER

EXAMPLE = ROOT / "examples" / "host_project"
#: What a wheel is built from (pyproject.toml's packages.find picks the apps out of it).
WHEEL_SOURCES = ("pyproject.toml", "README.md", "scheduling", "orchestrator", "workers")


@dataclass(frozen=True)
class Install:
    python: Path  # the fresh venv's interpreter
    site_packages: Path  # the fresh venv's own (holds Ostinato)
    requirements_site_packages: Path  # the cached environment's (holds everything else)
    wheel: Path
    seconds: dict[str, float] = field(default_factory=dict)
    cached: bool = False  # the requirements environment was already there


def pip(*args: str, python: Path, timeout: float = 600) -> str:
    """The development venv's pip acting on ``python``'s environment; fails with pip's output."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"pip {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def build_wheel(folder: Path) -> Path:
    source = folder / "source"
    source.mkdir(parents=True)
    for name in WHEEL_SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    dist = folder / "dist"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--disable-pip-version-check",
            "-w",
            str(dist),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"building the wheel failed:\n{done.stdout}\n{done.stderr}")
    [wheel] = dist.glob("ostinato-*.whl")
    return wheel


def new_venv(path: Path) -> Path:
    """A new virtual environment without pip (the development venv's pip installs into it); its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    return path / "bin" / "python"


def site_packages(python: Path) -> Path:
    done = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return Path(done.stdout.strip())


def requirements_key() -> str:
    """What the requirements environment is made of: the wheel's pinned dependencies, the example's
    requirements and the Python version (not the rest of pyproject.toml, whose tool settings change often)."""
    digest = hashlib.sha256()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    digest.update(json.dumps([project["dependencies"], project["requires-python"]]).encode())
    digest.update((EXAMPLE / "requirements.txt").read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    configured = os.environ.get("OSTINATO_TEST_CACHE")
    base = Path(configured) if configured else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base if configured else base / "ostinato-tests"


@contextlib.contextmanager
def locked(path: Path, *, shared: bool = False, wait: bool = True) -> Iterator[bool]:
    """Hold a lock on ``path``, exclusive or ``shared``; yields False at once when ``wait`` is off and it is taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_requirements_env(wheel: Path, folder: Path) -> None:
    """The example's requirements and the wheel's dependencies in a venv at ``folder`` (call with its lock held)."""
    shutil.rmtree(folder, ignore_errors=True)  # an earlier build that did not finish
    python = new_venv(folder)
    pip("install", "--quiet", "-r", str(EXAMPLE / "requirements.txt"), str(wheel), python=python)
    pip("uninstall", "--quiet", "--yes", "ostinato", python=python)  # the wheel goes into each fresh venv
    (folder / ".complete").write_text(wheel.name)


@contextlib.contextmanager
def requirements_env(wheel: Path, folder: Path) -> Iterator[tuple[Path, bool]]:
    """(python, was cached) of the requirements environment at ``folder``, kept from removal while in use.

    Users hold its lock shared; building it (once) and removing it (``prune_cache``) take it exclusive.
    """
    lock = folder.with_name(folder.name + ".lock")
    built = False
    while True:
        with locked(lock, shared=True):
            if (folder / ".complete").exists():
                yield folder / "bin" / "python", not built
                return
        with locked(lock):
            if not (folder / ".complete").exists():
                build_requirements_env(wheel, folder)
                built = True


def prune_cache(keep: Path) -> None:
    """Remove the cached environments of other keys that nobody is using (their lock files stay)."""
    for other in keep.parent.glob("host-requirements-*"):
        if other.is_dir() and other != keep:
            with locked(other.with_name(other.name + ".lock"), wait=False) as free:
                if free:
                    shutil.rmtree(other, ignore_errors=True)


@contextlib.contextmanager
def install(folder: Path) -> Iterator[Install]:
    """Build the wheel and install it into a fresh venv under ``folder`` (see the module's docstring)."""
    seconds: dict[str, float] = {}
    started = time.monotonic()
    wheel = build_wheel(folder / "wheel")
    seconds["wheel"] = time.monotonic() - started

    started = time.monotonic()
    key = f"host-requirements-{requirements_key()}"
    cold = os.environ.get("OSTINATO_HOST_VENV_CACHE", "1") == "0"
    with requirements_env(wheel, (folder if cold else cache_root()) / key) as (requirements_python, cached):
        if not cached and not cold:
            prune_cache(cache_root() / key)
        seconds["requirements"] = time.monotonic() - started

        started = time.monotonic()
        python = new_venv(folder / "venv")
        own = site_packages(python)
        requirements_site = site_packages(requirements_python)
        (own / "host_requirements.pth").write_text(f"import site; site.addsitedir({str(requirements_site)!r})\n")
        pip("install", "--quiet", "--no-deps", "--no-index", str(wheel), python=python)
        pip("check", python=python)
        seconds["fresh venv"] = time.monotonic() - started
        yield Install(
            python=python,
            site_packages=own,
            requirements_site_packages=requirements_site,
            wheel=wheel,
            seconds=seconds,
            cached=cached,
        )


@dataclass
class Host:
    """The example project, copied and configured, with its processes (stopped by PID when it ends)."""

    folder: Path
    python: Path
    env: dict[str, str]
    database_url: str
    procs: Processes

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        return self.run("manage.py", *args, env=env)

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
        """Run the venv's python with ``args`` in the project's folder to completion; its output (fails on non-zero)."""
        done = subprocess.run(
            [str(self.python), *args],
            cwd=self.folder,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self, name: str, *args: str) -> Proc:
        return self.procs.start(name, [str(self.python), *args], cwd=self.folder)

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(query, params).fetchall()


@contextlib.contextmanager
def host_project(
    installed: Install, folder: Path, *, database: str, report_if: Callable[[], bool] = lambda: False
) -> Iterator[Host]:
    """The example copied under ``folder``, run with ``installed``'s venv and the PostgreSQL ``database``
    (made empty here, dropped at the end) and this session's Redis database (``REDIS_URL``).

    Every process started through the host is stopped by PID when the block ends, also on failure;
    their log tails go to stderr when ``report_if()`` says so then (a failed test).
    """
    project = folder / "host_project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "var", "staticfiles"))
    server = f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    (folder / "home").mkdir()
    (folder / "tmp").mkdir()
    env = {
        "PATH": f"{installed.python.parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(folder / "home"),  # gunicorn's control socket and anything else kept per user
        "TMPDIR": str(folder / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SECRET_KEY": "host-project-tests-only-secret-key-0123456789abcdef",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"{server}/{database}",
        "REDIS_URL": os.environ["REDIS_URL"],
    }
    procs = Processes(env=env, logs=folder / "logs")
    try:
        yield Host(folder=project, python=installed.python, env=env, database_url=f"{server}/{database}", procs=procs)
    finally:
        procs.stop_all()
        if report_if():
            sys.stderr.write("\n" + procs.report() + "\n")
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
