"""Prometheus metrics from real beat, worker and gunicorn processes sharing one multiprocess folder."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from orchestrator import events
from scheduling.ops import metrics

TOKEN = "metrics-test-token"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, metric: str, /, **labels: str) -> float | None:
    return samples.get((metric, frozenset(labels.items())))


def _count(rows: Iterable[float], bound: float) -> int:
    return sum(1 for lag in rows if lag <= bound)


def test_a_process_file_still_being_created_does_not_break_a_scrape(settings):
    metrics.RUNS_FINISHED.labels("noop", "succeeded").inc()  # this process's own file, with a value
    half_made = Path(settings.METRICS_MULTIPROC_DIR) / "counter_999999.db"
    half_made.write_bytes(b"")  # a process that has created its file and not yet sized it
    try:
        families = parse(metrics.render("process").decode())
    finally:
        half_made.unlink()
    assert (value(families, "ostinato_runs_finished_total", job="noop", status="succeeded") or 0) >= 1


def test_event_log_write_failures_are_counted(settings, tmp_path: Path):
    before = value(parse(metrics.render("process").decode()), "ostinato_event_log_write_failures_total") or 0
    settings.EVENTS_PATH = tmp_path  # a folder: every write fails
    assert events.emit([{"event": "run_started"}]) is False
    assert events.emit([{"event": "run_finished"}]) is False
    after = value(parse(metrics.render("process").decode()), "ostinato_event_log_write_failures_total")
    assert after == before + 2


@pytest.mark.django_db
def test_metrics_view_needs_a_token_or_a_staff_session(client, settings, django_user_model):
    settings.METRICS_TOKEN = None
    assert client.get("/metrics").status_code == 401
    user = django_user_model.objects.create_user("ops", password="pw-ops-123456")
    client.force_login(user)
    assert client.get("/metrics").status_code == 401
    user.is_staff = True
    user.save()
    response = client.get("/metrics")
    assert response.status_code == 200 and b"ostinato_limit_slots_in_use" in response.content
    assert client.post("/metrics").status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize("given", ["²", "\u0663", "ü" * 40, "\ufffd", TOKEN + "²"])
def test_a_non_ascii_bearer_token_is_refused_not_a_server_error(settings, given: str):
    """``hmac.compare_digest`` raises ``TypeError`` for non-ASCII ``str`` (a 500 to anyone before).

    A server hands header bytes over as Latin-1 text: the token is sent as its UTF-8 bytes.
    """
    settings.METRICS_TOKEN = TOKEN
    anonymous = Client(raise_request_exception=False)
    header = "Bearer " + given.encode("utf-8").decode("latin-1")
    response = anonymous.get("/metrics", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401 and b"metrics need Authorization: Bearer" in response.content
    assert anonymous.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
