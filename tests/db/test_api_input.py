"""What the API takes in its bodies and query strings: the JSON types the schema says, text the
database can store, page numbers ``int()`` can read, and the rules between fields in the schema."""

from __future__ import annotations

import json

import pytest

from scheduling.models import Schedule
from tests.db.test_api import admin as admin  # the fixture: an API client of a superuser

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", 0, "must be text, not 0"),
        ("tenant", True, "must be text, not true"),
        ("interval_seconds", "60", "must be a whole number, not '60' (a JSON string: leave out the quotes)"),
        ("interval_seconds", "٣", "must be a whole number, not '٣'"),
        ("max_concurrency", 1.5, "must be a whole number, not 1.5"),
        ("max_concurrency", 1e300, "must be a whole number, not 1e+300"),  # int() of "1e+300" fails
        ("enabled", "yes", "must be true or false, not 'yes'"),
        ("enabled", "true", "must be true or false, not 'true' (a JSON string: leave out the quotes)"),
    ],
)
def test_body_values_have_the_json_type_the_schema_says(admin, field, value, message):
    """DRF alone stores ``"name": 0`` as the name "0" and reads "٣" (Arabic-Indic three) as 3."""
    body = {"name": "typed", "job": "noop", "kind": "interval", "interval_seconds": 60, field: value}
    response = admin.post("/api/schedules/", body, format="json")
    assert response.status_code == 400 and response.json() == {field: [message]}
    assert not Schedule.objects.exists()
    whole = {"name": "typed", "job": "noop", "kind": "interval", "interval_seconds": 60.0}  # a JSON integer too
    assert admin.post("/api/schedules/", whole, format="json").status_code == 201


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ('{"name": "\\ud800"}', "name", "must be valid Unicode"),
        ('{"params": {"path": "\\udfff"}}', "params", "must be valid Unicode"),
        ('{"params": {"\\ud800": 1}}', "params", "must be valid Unicode"),
        ('{"job": "\\ud800"}', "job", "must be valid Unicode"),
        ('{"directive": "\\ud800"}', "directive", "must be valid Unicode"),
        ('{"kind": "\\ud800"}', "kind", "must be one of cron, interval, once, not '\\ud800'"),  # written out
        ('{"params": {"path": "a\\u0000b"}}', "params", "must not contain NUL"),
    ],
)
def test_lone_surrogates_and_nul_in_a_body_are_a_400_naming_the_field(admin, body, field, message):
    """JSON may spell a lone surrogate (``"\\ud800"``); it is no character and PostgreSQL cannot take it."""
    fields = json.loads(body)
    full = json.dumps({"name": "odd", "job": "noop", "kind": "cron", "cron": "0 2 * * *", **fields})
    response = admin.generic("POST", "/api/schedules/", full, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    errors = response.json()
    assert list(errors) == [field] and message in errors[field][0], errors
    assert not Schedule.objects.exists()


def test_a_page_number_of_ten_thousand_digits_is_a_400(admin):
    """``int()`` refuses strings past 4,300 digits (a ValueError, a 500 before)."""
    for name in ("page", "page_size"):
        response = admin.get("/api/schedules/", {name: "9" * 10_240})
        assert response.status_code == 400 and "must be a whole number from 1" in response.json()[name][0]


def test_cross_field_rules_are_in_the_schema(admin):
    schema = admin.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    def described(path: str, name: str) -> str:
        parameters = schema["paths"][path]["get"]["parameters"]
        return str(next(p for p in parameters if p["name"] == name)["description"])

    assert "must be before `until`" in described("/api/schedules/{id}/history/", "since")
    assert "must be after `since`" in described("/api/schedules/{id}/history/", "until")
    assert "must be before `created_before`" in described("/api/runs/", "created_after")
    assert "must be after `created_after`" in described("/api/runs/", "created_before")
    body = schema["components"]["schemas"]["ScheduleCreateRequest"]["properties"]
    assert "Required when `kind` is `cron`" in body["cron"]["description"]
    assert "Required when `kind` is `interval`" in body["interval_seconds"]["description"]
    assert "Required when `kind` is `once`" in body["run_at"]["description"]
    assert "must be after `start_at`" in body["end_at"]["description"]
    assert "must be 0 when `kind` is `once`" in body["jitter_seconds"]["description"]
    assert "must belong to `job`" in body["directive"]["description"]
    # ... and enforced as before
    bad = admin.get("/api/runs/", {"created_after": "2030-01-02T00:00:00Z", "created_before": "2030-01-01T00:00:00Z"})
    assert bad.status_code == 400 and bad.json() == {"created_before": ["must be after created_after"]}


def test_an_offset_postgresql_cannot_store_is_kept_as_its_utc_time(admin):
    """ISO 8601 allows +21:47; PostgreSQL refuses offsets past ±15:59 (found by schemathesis on backfills)."""
    body = {"name": "far-east", "job": "noop", "kind": "once", "run_at": "2031-01-02T21:47:00+21:47"}
    response = admin.post("/api/schedules/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["run_at"] == "2031-01-02T00:00:00Z"
    assert Schedule.objects.get(name="far-east").run_at.isoformat() == "2031-01-02T00:00:00+00:00"
