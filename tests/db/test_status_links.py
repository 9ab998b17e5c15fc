"""The status page links each worker to what it is running, and each beat to what the beats dispatch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orchestrator import ids
from scheduling.ops import health
from tests import factories

pytestmark = pytest.mark.django_db


def test_each_worker_links_to_its_running_runs(admin_client: Client, redis_db, monkeypatch) -> None:
    now = timezone.now()
    mine = factories.run_row("sleep", status="running", started_at=now - timedelta(seconds=30), worker="w1@host")
    other = factories.run_row("sleep", status="running", started_at=now, worker="w2@host")
    answering = [health.WorkerStatus(name="w1@host", queues=["default"], concurrency=2, active=1)]
    monkeypatch.setattr(health, "workers", lambda **kwargs: answering)

    page = admin_client.get(reverse("schedules:status")).content.decode()

    assert f'data-running-run="{mine.pk}"' in page
    assert reverse("admin:orchestrator_run_change", args=[mine.pk]) in page
    assert f'data-running-run="{other.pk}"' not in page  # w2 did not answer: not listed as a worker
    assert "?worker__exact=w1%40host&amp;status__exact=running" in page
    runs = reverse("admin:orchestrator_run_changelist")
    listed = admin_client.get(runs + "?worker__exact=w1@host&status__exact=running")
    assert listed.status_code == 200 and ids.short(mine.pk) in listed.content.decode()
    assert ids.short(other.pk) not in listed.content.decode()
    assert "p.m." not in page and "a.m." not in page
