"""Token totals per run and per schedule, as the admin shows them."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from orchestrator.models import LLMCall, Run
from scheduling.models import OccurrenceStatus, ScheduledRun
from tests import factories


def scheduled_run(schedule) -> Run:
    now = timezone.now()
    run = factories.run_row(schedule.job.key, trigger="schedule", now=now)
    ScheduledRun.objects.create(
        schedule=schedule, scheduled_for=now, status=OccurrenceStatus.DISPATCHED, run=run, created_at=now
    )
    return run


def test_totals_per_run_and_per_schedule_in_the_admin(admin_client):
    schedule = factories.schedule("log_triage", kind="cron", cron="0 3 * * *", params={"path": "x.log"})
    other = factories.schedule("noop", kind="cron", cron="0 4 * * *")
    first, second, elsewhere = scheduled_run(schedule), scheduled_run(schedule), scheduled_run(other)
    LLMCall.objects.create(run=first, model="llama", prompt_tokens=100, completion_tokens=20)
    LLMCall.objects.create(run=first, model="llama", prompt_tokens=30, completion_tokens=12)
    LLMCall.objects.create(run=second, model="qwen", prompt_tokens=5, completion_tokens=1)
    LLMCall.objects.create(run=elsewhere, model="llama", prompt_tokens=999, completion_tokens=999)

    assert LLMCall.objects.filter(run=first).totals() == {
        "calls": 2,
        "prompt_tokens": 130,
        "completion_tokens": 32,
        "total_tokens": 162,
    }
    assert LLMCall.objects.filter(run__occurrence__schedule=schedule).totals()["total_tokens"] == 168
    assert LLMCall.objects.none().totals() == {
        "calls": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
    }

    page = admin_client.get(reverse("admin:orchestrator_run_change", args=[first.pk]))
    assert page.status_code == 200
    assert "2 call(s): 130 prompt + 32 completion = 162 tokens" in page.content.decode()
    page = admin_client.get(reverse("admin:scheduling_schedule_change", args=[schedule.pk]))
    assert page.status_code == 200
    assert "3 call(s): 135 prompt + 33 completion = 168 tokens" in page.content.decode()
    assert admin_client.get(reverse("admin:scheduling_schedule_add")).status_code == 200
