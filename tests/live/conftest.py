"""The live tier: real Celery workers and beats, web servers and management commands, started by the tests.

Every process a test starts goes through the ``live`` fixture, which stops it by its PID (the whole
process group) when the test ends, also when it failed, and prints the processes' output then.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
from django.conf import LazySettings
from django.db import connection

from tests import brokers, host_install
from tests.conftest import failed
from tests.processes import ROOT, Processes


def _subprocess_env(events_path: Path, artifacts_dir: Path) -> dict[str, str]:
    settings_dict = connection.settings_dict
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "COV_")) and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        {
            "DATABASE_URL": (
                f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
            ),
            "EVENTS_PATH": str(events_path),
            # log_triage may read this test's files and the samples (tests narrow it per worker).
            "LOG_ROOTS": f"{events_path.parent},{ROOT / 'configs' / 'samples'}",
            "ARTIFACTS_DIR": str(artifacts_dir),
            "SCHEDULER_TICK_SECONDS": "0.2",
            "SCHEDULER_MAINTENANCE_SECONDS": "1",
            "SCHEDULER_RECOVERY_GRACE_SECONDS": "3",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        }
    )
    return env


@pytest.fixture
def live(
    transactional_db: None,
    settings: LazySettings,
    tmp_path: Path,
    redis_db: redis_lib.Redis,
    request: pytest.FixtureRequest,
) -> Iterator[Processes]:
    """Processes sharing this test's database, Redis db, event log and artifact folder with the test."""
    events_path = tmp_path / "events.jsonl"
    artifacts_dir = tmp_path / "artifacts"
    settings.EVENTS_PATH = events_path
    settings.ARTIFACTS_DIR = artifacts_dir
    settings.LOG_ROOTS = [tmp_path, ROOT / "configs" / "samples"]
    procs = Processes(env=_subprocess_env(events_path, artifacts_dir), logs=tmp_path / "logs")
    try:
        yield procs
    finally:
        # SIGKILL at once: the test is over, how they stop is not under test here (tests that check
        # a graceful stop call ``Proc.terminate`` themselves), and the next test starts from an
        # emptied database and Redis db. A SIGTERM first cost each live test ~2 s of warm shutdown.
        procs.kill_all()
        if failed(request):
            sys.stderr.write("\n" + procs.report() + "\n")


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[host_install.Install]:
    """Ostinato's wheel of this checkout in a fresh venv, once per session for the host-project tests
    (``tests/host_install.py``); each test runs its own copy of the example with it (``host_project``)."""
    with host_install.install(tmp_path_factory.mktemp("host-install")) as found:
        print(
            "\nhost install ("
            + ("requirements cached" if found.cached else "requirements built")
            + "): "
            + ", ".join(f"{step} {seconds:.1f}s" for step, seconds in found.seconds.items())
        )
        yield found


@pytest.fixture(params=brokers.BROKERS)
def broker(request: pytest.FixtureRequest, live: Processes) -> Iterator[brokers.BrokerName]:
    """The test once per broker: its processes and this one publish through it (Redis keeps our keys)."""
    name: brokers.BrokerName = request.param
    if name == "redis":
        yield name
        return
    url = request.getfixturevalue("rabbitmq_url")
    live.env["BROKER_URL"] = url
    with brokers.celery_broker(url):
        brokers.delete_queues(url)  # the vhost lives for the session: no queue left by an earlier test
        yield name
