"""One schedule's input, sent through each door that takes it: the admin, the schedules page, the API, YAML.

``submit(door, values)`` sends ``values`` (field -> value, as a person would give them: the job by
its key, params as a JSON object, dates as ISO text) the way that door takes them and returns the
errors it answered, field -> messages, with each door's own wrapping taken off (the form's HTML,
the API's JSON, YAML sync's ``file:line: entry N (name):`` prefix). An empty dict: it was saved.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

DOORS = ("admin", "page", "api", "yaml")
_names = itertools.count(1)


def form_data(**changes: Any) -> dict[str, Any]:
    """Everything the admin's schedule form posts, with ``changes`` applied (None removes a key)."""
    data: dict[str, Any] = {
        "name": "nightly-report",
        "description": "",
        "job": "noop",
        "directive": "",
        "params": "{}",
        "tenant": "",
        "enabled": "on",
        "kind": "cron",
        "cron": "0 2 * * *",
        "interval_seconds": "",
        "run_at": "",
        "timezone": "Europe/Berlin",
        "start_at": "",
        "end_at": "",
        "jitter_seconds": "0",
        "overlap_policy": "skip",
        "misfire_policy": "run_once",
        "misfire_grace_seconds": "3600",
        "max_concurrency": "",
        "pause_after_failures": "",
        "remaining_runs": "",
        "deadline_seconds": "",
        "calendars": [],
        "occurrences-TOTAL_FORMS": "0",
        "occurrences-INITIAL_FORMS": "0",
        "occurrences-MIN_NUM_FORMS": "0",
        "occurrences-MAX_NUM_FORMS": "0",
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def _superuser() -> Any:
    user_model = get_user_model()
    user = user_model.objects.filter(username="door-root").first()
    return user or user_model.objects.create_superuser("door-root", password="door-root-password-1")


def _as_form_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "on" if value else ""
    return "" if value is None else str(value)


def _form_values(values: dict[str, Any]) -> dict[str, Any]:
    """The form's fields: a blank form (kind and cron left empty) with ``values`` typed into it."""
    changes: dict[str, Any] = {"kind": "", "cron": "", "timezone": "UTC"}
    for name, value in values.items():
        changes[name] = value if name == "calendars" and isinstance(value, list) else _as_form_value(value)
    return form_data(**changes)


def _form_errors(form: Any) -> dict[str, list[str]]:
    return {name: [str(message) for message in messages] for name, messages in form.errors.items()}


def submit(door: str, values: dict[str, Any], *, tmp: Path | None = None) -> dict[str, list[str]]:
    """Send ``values`` through ``door``; the field errors it answered (empty: saved)."""
    values = {"name": f"door-{next(_names)}", **values}
    if door in ("admin", "page"):
        client = Client()
        client.force_login(_superuser())
        url = "/admin/scheduling/schedule/add/" if door == "admin" else "/schedules/new/"
        response = client.post(url, _form_values(values))
        if response.status_code == 302:
            return {}
        assert response.status_code == 200, (door, response.status_code)
        form = response.context["adminform"].form if door == "admin" else response.context["form"]
        return _form_errors(form)
    if door == "api":
        api = APIClient()
        api.force_authenticate(_superuser())
        answer = api.post("/api/schedules/", values, format="json")
        if answer.status_code == 201:
            return {}
        assert answer.status_code == 400, (door, answer.status_code, answer.content)
        return {name: list(messages) for name, messages in answer.json().items()}
    if door == "yaml":
        from scheduling.surfaces.yaml_sync import SyncError, sync

        folder = Path(tempfile.mkdtemp(dir=tmp))
        entry = {"id": values.pop("name"), **values}
        (folder / "doors.yaml").write_text(yaml.safe_dump([entry], sort_keys=False))
        try:
            sync(folder)
        except SyncError as exc:
            found: dict[str, list[str]] = {}
            for problem in exc.problems:
                found.setdefault("name" if problem.field == "id" else problem.field, []).append(problem.message)
            return found
        return {}
    raise ValueError(f"unknown door {door!r}")
