"""Request bodies built to break a parser: JSON nested past Python's recursion limit, numbers past
its digit limit, bodies past the upload limit. The API answers 400 or 413 as JSON, the forms name
the field; never a 500.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from scheduling.models import Schedule
from tests.doors import form_data

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000
HUGE_NUMBER = "9" * 5000


@pytest.fixture
def root() -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_superuser("root", password="pw-root-hostile"))
    return client


def _api_body(**overrides: str) -> str:
    fields = {"name": '"hostile"', "job": '"noop"', "kind": '"interval"', "interval_seconds": "60", **overrides}
    return "{" + ", ".join(f'"{key}": {value}' for key, value in fields.items()) + "}"


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (_api_body(params='{"a": ' + DEEP + "}"), 400, "nested too deeply"),
        (_api_body(interval_seconds=HUGE_NUMBER), 400, "JSON parse error"),
        (_api_body(description='"' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '"'), 413, "larger than"),
    ],
    ids=["deep", "huge-number", "too-large"],
)
def test_the_api_refuses_hostile_json_with_a_json_error(root: Client, body: str, status: int, fragment: str):
    response = root.post("/api/schedules/", body, content_type="application/json")
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json" and fragment in response.json()["detail"]
    assert not Schedule.objects.exists()


@pytest.mark.parametrize("params", [DEEP, '{"a": ' + HUGE_NUMBER + "}"], ids=["deep", "huge-number"])
def test_the_forms_name_the_params_field(root: Client, params: str):
    for url in ("/schedules/new/", "/admin/scheduling/schedule/add/"):
        response = root.post(url, form_data(name="hostile", params=params))
        assert response.status_code == 200, (url, response.status_code)
        form = response.context["form"] if "form" in response.context else response.context["adminform"].form
        assert "is not valid JSON" in " ".join(form.errors["params"]), form.errors
    preview = root.post("/schedules/preview/", form_data(name="hostile", params=params))
    assert preview.status_code < 500
    directive = root.post(
        "/admin/orchestrator/directive/add/", {"name": "hostile", "job": form_data()["job"], "params": params}
    )
    assert directive.status_code == 200 and "is not valid JSON" in directive.content.decode()
    assert not Schedule.objects.exists()
