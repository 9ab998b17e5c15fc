"""The log triage job's pure part: levels and error shapes."""

from __future__ import annotations

from orchestrator.jobs.log_triage import message_shape, render_markdown, triage


def test_counts_lines_by_level_with_aliases():
    result = triage(
        [
            "2026-01-01 INFO a\n",
            "2026-01-01 WARN b\n",
            "2026-01-01 WARNING c\n",
            "2026-01-01 ERROR d\n",
            "2026-01-01 FATAL e\n",
            "no level at all\n",
            "\n",
            "2026-01-01 DEBUG f\n",
        ]
    )
    assert result.lines == 7
    assert result.by_level == {"DEBUG": 1, "INFO": 1, "WARNING": 2, "ERROR": 1, "CRITICAL": 1, "OTHER": 1}


def test_groups_errors_by_shape_and_ranks_them():
    lines = [
        "ERROR timeout after 31s talking to 10.0.0.7",
        "ERROR timeout after 30s talking to 10.0.0.9",
        "ERROR order 3f2a9c1e-1234-4abc-8def-0123456789ab not found",
        "ERROR order 0e2a9c1e-1234-4abc-8def-0123456789ab not found",
        "ERROR order 1e2a9c1e-1234-4abc-8def-0123456789ab not found",
        "ERROR disk full",
    ]
    result = triage(lines, top=2)
    assert [(e["message"], e["count"]) for e in result.top_errors] == [
        ("order <uuid> not found", 3),
        ("timeout after <n>s talking to <n>", 2),
    ]
    assert result.top_errors[0]["example"].startswith("order 3f2a9c1e")


def test_shapes_hide_variable_parts():
    assert message_shape("pid 4242 at 0xdeadbeef took 1.5s") == "pid <n> at <hex> took <n>s"


def test_markdown_report_has_the_tables():
    markdown = render_markdown("app.log", triage(["ERROR boom", "INFO ok"]))
    assert "| ERROR | 1 |" in markdown and "| 1 | `boom` |" in markdown
