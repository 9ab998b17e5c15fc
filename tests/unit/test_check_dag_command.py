"""``manage.py check_dag``: the same validation as a schedule, for files before they are used."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from orchestrator import registry
from tests.processes import ROOT


def test_the_example_validates_and_prints_its_order():
    out = io.StringIO()
    call_command("check_dag", "configs/dags/weekly_ops_chain.min.yaml", stdout=out)
    assert out.getvalue().splitlines() == [
        "weekly_ops_chain (configs/dags/weekly_ops_chain.min.yaml), max_parallel 3:",
        "  triage: log_triage",
        "  heartbeat: noop",
        "  report: report after triage, heartbeat",
        "  done: noop after report",
    ]


def test_a_bad_file_fails_with_every_problem(settings, tmp_path: Path):
    settings.DAG_ROOTS = [tmp_path, ROOT / "configs" / "dags"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - {id: a, job: nope}\n  - {id: b, job: noop, needs: [a, zz]}\n")
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2 DAG file"):
        call_command("check_dag", str(bad), "configs/dags/weekly_ops_chain.min.yaml", stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        f"error: {bad}: step 'a': job: 'nope' is not a registered job; registered: " + ", ".join(registry.keys()),
        f"error: {bad}: step 'b': needs: 'zz' is not a step of this DAG; steps: a, b",
    ]
