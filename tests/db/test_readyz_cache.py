"""/readyz answers from a per-process cache: a crowd of anonymous probes costs one Celery broadcast.

The broadcasts are counted where they are sent (``app.control.ping``, wrapped by a counter that
still sends them), never by timing. The cache's period is set long enough that it cannot pass
during the test; it is ended by ``READINESS.expire()``, as if the period had passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import LazySettings
from django.test import Client

from project.celery import app
from scheduling.engine import heartbeat
from scheduling.ops import health
from scheduling.surfaces.api.tokens import ApiToken
from tests import factories
from tests.records import staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch, settings: LazySettings, redis_db: Any) -> Iterator[list[float]]:
    """Each Celery ping broadcast sent from this process (their timeouts), and a ready deployment."""
    settings.HEALTH_CACHE_SECONDS = 3600.0
    settings.HEALTH_CELERY_TIMEOUT_SECONDS = 0.2
    settings.SCHEDULER_BEAT_HEARTBEAT_SECONDS = 3600.0
    sent: list[float] = []
    real_ping = app.control.ping

    def counting_ping(*args: Any, **kwargs: Any) -> Any:
        sent.append(kwargs.get("timeout", 0.0))
        return real_ping(*args, **kwargs)

    monkeypatch.setattr(app.control, "ping", counting_ping)
    heartbeat.BeatHeartbeat().record(duration_seconds=0.01, dispatched=0)  # a beat has ticked
    health.READINESS.expire()
    yield sent
    health.READINESS.expire()


def test_many_anonymous_probes_cost_one_broadcast_per_period(pings: list[float]) -> None:
    anonymous = Client()
    answers = [anonymous.get("/readyz") for _ in range(25)]
    assert {(a.status_code, a.content) for a in answers} == {(200, b'{"status": "ok"}')}
    assert len(pings) == 1, f"{len(pings)} Celery broadcasts for 25 requests within one cache period"
    assert health.READINESS.runs >= 1

    # An enabled schedule whose queue no worker serves: the answer must turn 503, once the
    # cached one has expired (and not before: anonymous probes never trigger a fresh broadcast).
    factories.schedule("noop", name="needs-a-worker", kind="cron", cron="0 * * * *")
    assert anonymous.get("/readyz").status_code == 200 and len(pings) == 1
    health.READINESS.expire()
    stale = [anonymous.get("/readyz") for _ in range(10)]
    assert {(a.status_code, a.content) for a in stale} == {(503, b'{"status": "unavailable"}')}
    assert len(pings) == 2

    # Staff, diagnosing, get the checks run for them; the result refreshes the cache.
    staff = staff_user("ops")
    _token, key = ApiToken.objects.issue(staff)
    detailed = Client().get("/readyz", HTTP_AUTHORIZATION=f"Token {key}").json()
    assert detailed["failed"] == ["workers"] and "default" in detailed["checks"]["workers"]["detail"]
    assert len(pings) == 3
    assert anonymous.get("/readyz").status_code == 503 and len(pings) == 3


def test_liveness_runs_no_check(pings: list[float]) -> None:
    runs = health.READINESS.runs
    for _ in range(5):
        assert Client().get("/healthz").status_code == 200
    assert pings == [] and health.READINESS.runs == runs


def test_one_thread_refreshes_while_the_others_get_the_previous_answer() -> None:
    """The cache itself: a stale answer is served while another thread runs the checks."""
    import threading

    started, release = threading.Event(), threading.Event()
    computed: list[int] = []

    def slow_checks() -> health.Readiness:
        computed.append(1)
        if len(computed) > 1:
            started.set()
            release.wait(timeout=30)
        return health.Readiness(checks=[health.Check(name="n", ok=len(computed) == 1, detail=str(len(computed)))])

    cache = health.ReadinessCache(slow_checks)
    first, _age = cache.get(max_age_seconds=60)
    assert first.ok and cache.runs == 1
    cache.expire()
    refresher = threading.Thread(target=cache.get, kwargs={"max_age_seconds": 60})
    refresher.start()
    assert started.wait(timeout=30)
    meanwhile, _age = cache.get(max_age_seconds=60)
    assert meanwhile is first, "the previous answer while the checks run"
    release.set()
    refresher.join(timeout=30)
    latest, age = cache.get(max_age_seconds=60)
    assert not latest.ok and cache.runs == 2 and len(computed) == 2 and age >= 0
