"""Fixtures shared by every tier."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from django.conf import LazySettings
from hypothesis import HealthCheck, settings

from tests import brokers
from tests.processes import ROOT

# Property tests run a fixed, moderate number of examples in a fixed order (derandomized), so the
# suite stays fast and a failure reproduces; HYPOTHESIS_PROFILE=deep searches longer and at random.
# No per-example deadline by default (a loaded CI machine would make it flaky); the time core's
# tests set their own generous one to catch a search that does not stop.
settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("deep", max_examples=2000, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


#: The project's own password hashers, read before ``pytest_configure`` replaces them in the test processes.
PRODUCTION_HASHERS: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Passwords made in the test processes are hashed with MD5, as Django's testing docs advise.

    The production hasher (PBKDF2, 1,000,000 iterations) costs 0.24 s of CPU per ``create_user``
    and per ``client.login``: 567 of them were half of the database tier's CPU time. What a
    password protects (logins, lockouts, sessions) is tested the same with either hasher. The
    processes the live tier starts keep the production settings, so a password that one of them
    checks must be made with ``production_hashers``.
    """
    from django.conf import settings as django_settings
    from django.test.utils import override_settings

    PRODUCTION_HASHERS.extend(django_settings.PASSWORD_HASHERS)
    override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]).enable()


@pytest.fixture
def production_hashers(settings: LazySettings) -> None:
    """Passwords hashed as the project's own processes check them (a browser logs in to a server)."""
    settings.PASSWORD_HASHERS = list(PRODUCTION_HASHERS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Expose each phase's report on the item, so fixtures can tell whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "rep_call", None)
    return report is None or report.failed


@pytest.fixture(autouse=True)
def _no_throttle_counters() -> Iterator[None]:
    """No test inherits another's failed logins or bad API tokens: the throttling counters live in
    Redis (Django's cache), which outlives a test, and every test client comes from 127.0.0.1."""
    client = redis_lib.Redis.from_url(os.environ["REDIS_URL"])

    def clear() -> None:
        stale = list(client.scan_iter(match="ostinato-cache:*", count=1000))
        if stale:
            client.delete(*stale)

    clear()
    yield
    clear()
    client.close()


@pytest.fixture
def redis_db() -> Iterator[redis_lib.Redis]:
    """This session's Redis database, emptied before the test."""
    client = redis_lib.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def dags(settings: LazySettings, tmp_path: Path) -> Path:
    """A folder for this test's DAG files, allowed in this process; pass ``dag_env(folder)`` to workers."""
    folder = tmp_path / "dags"
    folder.mkdir()
    settings.DAG_ROOTS = [folder, ROOT / "configs" / "dags"]
    return folder


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    """This session's RabbitMQ vhost (``tests/brokers.py``), made on first use, deleted at the end."""
    with brokers.rabbitmq_vhost(f"ostinato-s{os.environ['OSTINATO_TEST_SLOT']}") as url:
        yield url
