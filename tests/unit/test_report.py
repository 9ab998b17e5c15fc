"""The report job's rendering and log_triage's summaries (pure parts)."""

from __future__ import annotations

from orchestrator.jobs.log_triage import heuristic_summary, summary_prompt, triage
from orchestrator.jobs.report import render


def test_report_lists_each_upstream_step():
    upstream = {
        "triage": {"job": "log_triage", "duration_ms": 12, "result": {"lines": 60, "by_level": {"ERROR": 3}}},
        "heartbeat": {"job": "noop", "duration_ms": 1, "result": {"ok": True}},
        "pipe": {"job": "x", "duration_ms": 0, "result": "a|b\nc" + "z" * 300},
    }
    text = render("Weekly", "Run `r` (schedule).", upstream)
    assert text.startswith("# Weekly\n\nRun `r` (schedule).\n")
    assert '| triage | log_triage | 12 ms | lines: 60, by_level: {"ERROR": 3} |' in text
    assert "| heartbeat | noop | 1 ms | ok: true |" in text
    pipe_row = next(line for line in text.splitlines() if line.startswith("| pipe"))
    assert "a/b c" in pipe_row and pipe_row.endswith("… |") and pipe_row.count("|") == 5


def test_report_without_upstream_says_so():
    assert "No earlier steps." in render("Run report", "Run `r`.", {})


def test_heuristic_summary_names_the_most_frequent_errors():
    result = triage(["ERROR timeout after 3s", "ERROR timeout after 4s", "ERROR disk full", "INFO ok"])
    summary = heuristic_summary(result)
    assert summary.startswith("3 error lines in the top 2 shapes")
    assert "`timeout after <n>s` (2x)" in summary
    assert heuristic_summary(triage(["INFO ok"])) == "No errors."


def test_summary_prompt_carries_shapes_counts_and_bounded_examples():
    result = triage(["ERROR timeout after 3s " + "x" * 1000, "ERROR timeout after 4s " + "x" * 1000])
    system, user = summary_prompt("app.log", result)
    assert system["role"] == "system" and user["role"] == "user"
    assert "Log file: app.log" in user["content"] and "- 2x timeout after <n>s" in user["content"]
    assert len(user["content"]) < 1000, "examples are cut so the prompt stays bounded"
