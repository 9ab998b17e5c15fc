"""``report``: a Markdown and JSON summary of what a DAG's earlier steps did.

In a DAG it reads ``ctx.upstream``: the results of every step it needs, directly or not. Outside
a DAG there is nothing upstream and the report describes the run itself. Params: ``title``
(optional). Writes ``report.md`` and ``report.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orchestrator.context import RunContext
from orchestrator.params import Param, ParamKind
from orchestrator.registry import job

MAX_VALUE_CHARS = 200


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = text.replace("|", "/").replace("\n", " ")
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def render(title: str, ctx_line: str, upstream: Mapping[str, Any]) -> str:
    lines = [f"# {title}", "", ctx_line, ""]
    if not upstream:
        lines.append("No earlier steps.")
        return "\n".join(lines) + "\n"
    lines += ["| step | job | duration | result |", "|---|---|---:|---|"]
    for step_id, entry in upstream.items():
        result = entry.get("result")
        if isinstance(result, Mapping):
            shown = ", ".join(f"{key}: {_cell(value)}" for key, value in result.items())
        else:
            shown = _cell(result)
        lines.append(f"| {step_id} | {entry.get('job', '')} | {entry.get('duration_ms', '')} ms | {shown} |")
    return "\n".join(lines) + "\n"


@job(
    "report",
    description="Writes report.md and report.json summarising the DAG steps it follows.",
    params=[Param(name="title", kind=ParamKind.TEXT, max_length=200, description="the report's heading")],
)
def report(ctx: RunContext) -> Mapping[str, Any]:
    title = str(ctx.params.get("title") or "Run report")
    when = ctx.scheduled_for or ctx.now().isoformat(timespec="seconds")
    ctx_line = f"Run `{ctx.run_id}` ({ctx.trigger}), for {when}."
    upstream = dict(ctx.upstream)
    ctx.write_artifact("report.md", render(title, ctx_line, upstream), "text/markdown")
    ctx.write_artifact(
        "report.json",
        json.dumps({"title": title, "run_id": str(ctx.run_id), "steps": upstream}, indent=2, default=str),
        "application/json",
    )
    return {"steps_reported": len(upstream)}
