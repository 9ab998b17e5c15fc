"""Schemathesis against the live OpenAPI schema of a real gunicorn process, with an authenticated client.

Every operation gets generated valid and invalid requests (bounded: a few dozen each); the
answer must never be a 5xx, and must match the schema: documented status code, content type
and body. Path ids are generated, and also pinned to rows that exist, so the detail and action
endpoints are exercised beyond their 404s.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis
from django.contrib.auth.models import User
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from orchestrator.models import NotificationRule, Run
from scheduling.models import Backfill, Calendar, Schedule
from scheduling.surfaces.api.tokens import ApiToken
from tests import factories
from tests.webserver import start_web

EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 15}  # per operation; the suite stays under 15 min
CHECKS: list[Callable[..., Any]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _run(operation: Any, mode: GenerationMode, headers: dict[str, str], **fixed: Any) -> int:
    calls = 0

    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def check(case: Any) -> None:
        nonlocal calls
        calls += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        check()
    except Unsatisfiable:
        # Invalid data needs something to make invalid: an action with only a (pinned) path has none.
        assert mode == GenerationMode.NEGATIVE, f"{operation.label}: no valid request could be generated"
    return calls


def test_generated_requests_never_get_a_server_error(live, redis_db):
    user = User.objects.create_superuser("fuzz", password="pw-fuzz-not-used-1")
    headers = {"Authorization": f"Token {ApiToken.objects.issue(user)[1]}"}
    schedule = factories.schedule("noop", name="fuzz-target", kind="cron", cron="0 3 * * *")
    run = Run.objects.create(job=schedule.job, trigger="manual", status="queued", created_at=schedule.created_at)
    calendar = Calendar.objects.create(name="fuzz-calendar", crons=["* * * * 6,0"])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    backfill = Backfill.objects.create(schedule=schedule, start=start, end=start + timedelta(days=1), count=1)
    rule = NotificationRule.objects.create(
        name="fuzz-rule", events=["run_failed"], target="http://127.0.0.1:9/hook", secret="fuzz-secret"
    )
    pinned_ids = {
        "/api/runs/": run.pk,
        "/api/calendars/": calendar.pk,
        "/api/backfills/": backfill.pk,
        "/api/notification-rules/": rule.pk,
    }
    # No request-line limit: a long generated query must reach the API's validation (a 400), not
    # stop at gunicorn's 414, which schemathesis does not count as a rejection.
    base = start_web(live, workers=2, env={"GUNICORN_LIMIT_REQUEST_LINE": "0"})
    schema = schemathesis.openapi.from_url(
        f"{base}/api/schema/?format=json", headers=headers, timeout=30, wait_for_schema=30
    )

    calls = 0
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # a part of the schema schemathesis cannot read fails here
        operations.append(result.ok())
    # Deleting the pinned schedule first would turn every later pinned call into a 404.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    assert len(operations) == 35
    for operation in operations:
        pinned: dict[str, Any] = {}
        if "{id}" in operation.path:
            prefix = next((p for p in pinned_ids if operation.path.startswith(p)), None)
            pinned = {"path_parameters": {"id": str(pinned_ids[prefix] if prefix else schedule.pk)}}
        elif "{key}" in operation.path:
            pinned = {"path_parameters": {"key": "noop"}}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            calls += _run(operation, mode, headers)
            if pinned:
                calls += _run(operation, mode, headers, **pinned)
    assert calls > 200
    assert Schedule.objects.filter(source="api").exists(), "no generated schedule was valid enough to be created"
