"""``log_triage``: count a log file's lines by level and its most frequent error messages.

Error messages are grouped by their shape: numbers, hex ids and UUIDs are replaced by
placeholders, so "timeout after 31s on 10.0.0.7" and "timeout after 30s on 10.0.0.9" count as one.
Writes ``triage.json`` and ``triage.md`` as the run's artifacts.

With ``LLM_BASE_URL`` set and errors found, a local language model summarises the most frequent
errors; the summary goes into the two reports (on purpose: it is what the job produces) and the
call's token counts onto the run. Without a model, or when the model cannot be reached after the
client's bounded retries, the summary is the heuristic one. A model host the guard refuses
(not loopback, not in ``LLM_ALLOWED_HOSTS``) fails the run: that is a configuration to fix.
So does a log path outside ``LOG_ROOTS`` (symbolic links resolved first).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from orchestrator import guards, llm
from orchestrator.context import RunContext
from orchestrator.errors import ValidationError
from orchestrator.params import Param, ParamKind
from orchestrator.registry import job

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LEVEL = re.compile(r"\b(DEBUG|INFO|WARN(?:ING)?|ERROR|ERR|CRITICAL|FATAL)\b")
_ALIASES = {"WARN": "WARNING", "ERR": "ERROR", "FATAL": "CRITICAL"}
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{8,}\b")
_NUMBER = re.compile(r"\d+(?:\.\d+)*")
ERROR_LEVELS = {"ERROR", "CRITICAL"}
#: Each error shape and example is cut to this in the prompt, so the prompt stays bounded.
PROMPT_EXAMPLE_CHARS = 300
SYSTEM_PROMPT = (
    "You are an on-call engineer's assistant. Given the most frequent error shapes of a log file "
    "(variable parts replaced by <n>, <hex>, <uuid>) with counts and one example each, write a short "
    "summary: what is most likely going wrong, what to check first. At most 8 sentences, plain text."
)


@dataclass(frozen=True, kw_only=True)
class Triage:
    lines: int
    by_level: dict[str, int]
    top_errors: list[dict[str, Any]]


def message_shape(message: str) -> str:
    """``message`` with its variable parts replaced, so similar errors group together."""
    shaped = _UUID.sub("<uuid>", message)
    shaped = _HEX.sub("<hex>", shaped)
    shaped = _NUMBER.sub("<n>", shaped)
    return " ".join(shaped.split())


def triage(lines: Iterable[str], *, top: int = 10) -> Triage:
    """Count lines by level and the ``top`` most frequent error shapes (pure; no I/O)."""
    by_level: Counter[str] = Counter()
    shapes: Counter[str] = Counter()
    examples: dict[str, str] = {}
    total = 0
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        total += 1
        found = _LEVEL.search(line)
        if found is None:
            by_level["OTHER"] += 1
            continue
        level = _ALIASES.get(found.group(1), found.group(1))
        by_level[level] += 1
        if level in ERROR_LEVELS:
            message = line[found.end() :].lstrip(" :-]|")
            shape = message_shape(message) or "(empty message)"
            shapes[shape] += 1
            examples.setdefault(shape, message[:300])
    ordered = {level: by_level.get(level, 0) for level in LEVELS}
    if by_level.get("OTHER"):
        ordered["OTHER"] = by_level["OTHER"]
    top_errors = [
        {"message": shape, "count": count, "example": examples[shape]} for shape, count in shapes.most_common(top)
    ]
    return Triage(lines=total, by_level=ordered, top_errors=top_errors)


def render_markdown(path: str, result: Triage, summary: str | None = None) -> str:
    lines = [f"# Log triage: `{path}`", "", f"{result.lines} lines.", "", "| level | lines |", "|---|---:|"]
    lines += [f"| {level} | {count} |" for level, count in result.by_level.items()]
    lines += ["", "## Most frequent errors", ""]
    if not result.top_errors:
        lines.append("No errors.")
    else:
        lines += ["| count | message |", "|---:|---|"]
        lines += [f"| {item['count']} | `{item['message'].replace('|', '/')}` |" for item in result.top_errors]
    if summary:
        lines += ["", "## Summary", "", summary]
    return "\n".join(lines) + "\n"


def heuristic_summary(result: Triage) -> str:
    """A summary without a model: how many errors, of how many shapes, and the most frequent ones."""
    if not result.top_errors:
        return "No errors."
    total = sum(item["count"] for item in result.top_errors)
    shapes = ", ".join(f"`{item['message']}` ({item['count']}x)" for item in result.top_errors[:3])
    return f"{total} error lines in the top {len(result.top_errors)} shapes; most frequent: {shapes}."


def summary_prompt(name: str, result: Triage) -> list[llm.Message]:
    """The chat messages asking the model to summarise ``result`` (the log's top error shapes)."""
    lines = [f"Log file: {name}", f"Lines by level: {json.dumps(result.by_level)}", "Most frequent errors:"]
    for item in result.top_errors:
        shape, example = item["message"][:PROMPT_EXAMPLE_CHARS], item["example"][:PROMPT_EXAMPLE_CHARS]
        lines.append(f"- {item['count']}x {shape} (example: {example})")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(lines)}]


def resolve_log_path(raw: object) -> Path:
    """The log file ``params.path`` names, inside ``LOG_ROOTS`` once symbolic links are resolved.

    Raises ``guards.PathNotAllowed`` (the run fails with the reason and an ``access_denied`` event)
    for a path outside every root, and ``ValidationError`` for a missing path or file.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError({"params.path": "is required: the log file to read"})
    path = guards.check_path(raw, roots=settings.LOG_ROOTS, setting="LOG_ROOTS", base=Path(settings.BASE_DIR))
    if not path.is_file():
        raise ValidationError({"params.path": f"{raw!r} is not a readable file"})
    return path


@job(
    "log_triage",
    timeout_seconds=600,
    description="Counts a log's lines by level and its most frequent errors.",
    params=[
        Param(name="path", kind=ParamKind.TEXT, required=True, description="the log file, inside LOG_ROOTS"),
        Param(name="top", kind=ParamKind.INTEGER, minimum=1, maximum=100, default=10, description="errors listed"),
    ],
)
def log_triage(ctx: RunContext) -> Mapping[str, Any]:
    path = resolve_log_path(ctx.params.get("path"))
    top = int(ctx.params.get("top", 10))
    with open(path, encoding="utf-8", errors="replace") as handle:
        result = triage(handle, top=top)
    summary: dict[str, Any] = {"source": "heuristic", "text": heuristic_summary(result)}
    outcome: dict[str, Any] = {}
    config = llm.LLMConfig.from_settings()
    if config is not None and result.top_errors:
        try:
            completion = llm.chat(ctx, summary_prompt(path.name, result), client=llm.LLMClient(config))
        except (llm.LLMUnavailable, llm.LLMResponseError) as exc:
            ctx.logger.warning("no model summary, using the heuristic one: %s", exc, extra={"run_id": str(ctx.run_id)})
            outcome["llm_error"] = str(exc)[:500]
        else:
            if completion.text.strip():
                summary = {"source": "model", "model": completion.model, "text": completion.text.strip()}
            else:
                outcome["llm_error"] = f"the model {completion.model} answered with no text"
    report = {
        "file": str(path),
        "lines": result.lines,
        "by_level": result.by_level,
        "top_errors": result.top_errors,
        "summary": summary,
    }
    ctx.write_artifact("triage.json", json.dumps(report, indent=2), "application/json")
    ctx.write_artifact("triage.md", render_markdown(str(path), result, _summary_section(summary)), "text/markdown")
    return {
        "lines": result.lines,
        "errors": sum(i["count"] for i in result.top_errors),
        "by_level": result.by_level,
        "summary_source": summary["source"],
        **outcome,
    }


def _summary_section(summary: Mapping[str, Any]) -> str:
    by = f"by the model `{summary['model']}`" if summary["source"] == "model" else "heuristic, no model used"
    return f"{summary['text']}\n\n_({by})_"
