"""Fixtures shared by every tier."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from itertools import zip_longest
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Expose each phase's report on the item, so fixtures can tell whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


#: The files that took longest in a fresh-clone run (2026-12-07: 115, 83, 62, 51, 50, 48, 46 and 40 s), started
#: first: one of them handed out last would be the run's tail.
LONGEST_FIRST = (
    "tests/db/test_hostile_values.py",
    "tests/live/test_exactly_once.py",
    "tests/live/test_api_schemathesis.py",
    "tests/live/test_limits.py",
    "tests/live/test_demo_defaults.py",
    "tests/live/test_lifecycle.py",
    "tests/live/test_acknowledgement.py",
    "tests/live/test_host_project.py",
)
#: Tiers whose tests mostly wait on other processes (a beat, a worker, a browser); the others keep a CPU busy.
WAITING_TIERS = ("live", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest files first, then files that wait (live, e2e) alternating with files that compute (db, unit).

    Three live files side by side leave the CPUs idle while their processes sleep, three db files
    queue for them: alternating keeps both busy (a fresh clone ran 8:58 with the tiers one after
    the other, against 7:56 in xdist's own order). xdist hands files out in this order only with
    ``--no-loadscope-reorder`` (``scripts/test`` passes it); by default it orders them by their
    number of tests. A stable sort: each file keeps its own order.
    """
    files = list(dict.fromkeys(item.nodeid.split("::")[0] for item in items))
    first = [path for path in LONGEST_FIRST if path in files]
    rest = [path for path in files if path not in first]
    waiting = [path for path in rest if path.split("/")[1:2] and path.split("/")[1] in WAITING_TIERS]
    computing = [path for path in rest if path not in waiting]
    alternated = [path for pair in zip_longest(waiting, computing) for path in pair if path is not None]
    rank = {path: index for index, path in enumerate(first + alternated)}
    items.sort(key=lambda item: rank[item.nodeid.split("::")[0]])


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
