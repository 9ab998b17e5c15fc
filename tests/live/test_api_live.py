"""Run-now and cancel through the API with a real worker: the orchestrator's one path, trigger ``api``."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from orchestrator import events
from orchestrator.models import Run
from scheduling.models import ScheduledRun
from scheduling.surfaces.api.tokens import ApiToken
from tests import factories
from tests.helpers import wait_ready, wait_recorded
from tests.processes import wait_until


def _admin() -> APIClient:
    user = User.objects.create_superuser("live-admin", password="pw-live-admin-1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.issue(user)[1]}")
    return client


def test_run_now_through_the_api_executes_like_a_scheduled_run(live):
    wait_ready(live.worker())
    schedule = factories.schedule("noop", name="api-now", kind="cron", cron="0 3 1 1 *")
    client = _admin()

    response = client.post(f"/api/schedules/{schedule.pk}/run-now/")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["trigger"] == "api" and body["schedule"]["name"] == "api-now"
    assert response["Location"] == f"/api/runs/{body['id']}/"

    done = wait_until(
        lambda: Run.objects.filter(pk=body["id"], status="succeeded").first(), timeout=30, message="the API run"
    )
    assert done.trigger == "api" and done.worker
    occurrence = ScheduledRun.objects.get(run=done)
    assert occurrence.trigger == "api" and occurrence.scheduled_for is None
    wait_recorded(done)  # its run_finished follows the committed end
    recorded = [e for e in events.iter_events(settings.EVENTS_PATH) if e.get("run_id") == body["id"]]
    assert [e["event"] for e in recorded] == ["schedule_enqueued", "run_started", "run_finished"]
    assert {e["trigger"] for e in recorded} == {"api"} and recorded[-1]["schedule"] == "api-now"

    detail = client.get(f"/api/runs/{body['id']}/").json()
    assert detail["status"] == "succeeded" and detail["duration_ms"] is not None and detail["result"] == {"ok": True}
    history = client.get(f"/api/schedules/{schedule.pk}/history/").json()
    assert history["results"][0]["run"]["id"] == body["id"] and history["results"][0]["trigger"] == "api"
    schedule.refresh_from_db()
    assert schedule.last_run_at is None, "run-now does not shift the cadence"


def test_cancel_a_running_run_through_the_api(live):
    wait_ready(live.worker())
    schedule = factories.schedule("sleep", name="api-cancel", kind="cron", cron="0 3 1 1 *", params={"seconds": 30})
    client = _admin()
    run_id = client.post(f"/api/schedules/{schedule.pk}/run-now/").json()["id"]
    wait_until(lambda: Run.objects.filter(pk=run_id, status="running").exists(), timeout=30, message="it runs")

    response = client.post(f"/api/runs/{run_id}/cancel/", {"reason": "stop it"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    wait_until(
        lambda: any(
            e.get("event") == "run_cancelled" and e.get("run_id") == run_id
            for e in events.iter_events(settings.EVENTS_PATH)
        ),
        timeout=30,
        message="run_cancelled in the event log",
    )
    run = Run.objects.get(pk=run_id)
    assert run.status == "cancelled" and run.error == "stop it"
