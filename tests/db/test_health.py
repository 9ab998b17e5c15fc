"""/healthz, /readyz and the status page against a live gunicorn, beat and worker on a private Redis.

The Redis server here is started by the test (not the shared one), so stopping it affects only
this test's processes.
"""

from __future__ import annotations

from django.test import Client


def test_healthz_answers_without_database_or_allowed_host(client: Client):
    # No database fixture: any query would raise here. The host is not in ALLOWED_HOSTS.
    response = client.get("/healthz", HTTP_HOST="probe.internal")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert client.post("/healthz", HTTP_HOST="probe.internal").status_code == 405
