"""A DAG run's steps on the run page: an ordered table (step, job, needs, status, started, duration,
error, the step's artifacts as links), not raw JSON.

``Run.steps`` is written by the ``dag`` job (``orchestrator.jobs.dag.StepBook``) in the DAG's
dependency order; a step's artifacts are named ``<step id>/...``. Malformed records read as
absent fields, never as an error.
"""

from __future__ import annotations

import json
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString

from orchestrator import artifact_view, run_display
from orchestrator.admin_helpers import muted, status_badge
from orchestrator.models import Run
from orchestrator.timefmt import parse_moment

RESULT_SHOWN_CHARS = 2000


def _links(run: Run) -> dict[str, list[dict[str, str]]]:
    """The run's artifacts by the step whose folder they are in."""
    found: dict[str, list[dict[str, str]]] = {}
    for artifact in run.artifacts.order_by("name"):
        step, sep, rest = artifact.name.partition("/")
        if not sep:
            continue
        view = artifact_view.is_text(artifact.name)
        name = "admin:orchestrator_run_artifact_text" if view else "admin:orchestrator_run_artifact"
        found.setdefault(step, []).append(
            {"name": rest, "url": reverse(name, args=[run.pk, artifact.pk]), "kind": "view" if view else "download"}
        )
    return found


def rows(run: Run) -> list[dict[str, Any]]:
    records = run.steps if isinstance(run.steps, list) else []
    links = _links(run) if records else {}
    shown = []
    for number, record in enumerate(r for r in records if isinstance(r, dict)):
        step = str(record.get("id") or "?")
        result = record.get("result")
        text = "" if result is None else json.dumps(result, ensure_ascii=False, default=str)
        duration = record.get("duration_ms")
        shown.append(
            {
                "number": number + 1,
                "step": step,
                "job": str(record.get("job") or ""),
                "needs": ", ".join(str(need) for need in record.get("needs") or []),
                "status": status_badge(str(record.get("status") or "") or None),
                "started": run_display.when(run, parse_moment(record.get("started_at"))),
                "duration": run_display.duration_text(duration if isinstance(duration, int) else None),
                "error": str(record.get("error") or ""),
                "result": text[:RESULT_SHOWN_CHARS] + ("…" if len(text) > RESULT_SHOWN_CHARS else ""),
                "links": links.get(step, []),
            }
        )
    return shown


def steps_table(run: Run) -> SafeString:
    shown = rows(run)
    if not shown:
        return muted("—")
    return render_to_string("admin/orchestrator/run/_steps.html", {"rows": shown})
