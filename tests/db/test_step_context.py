"""A DAG step's context: its artifacts live under its step id, and bad names stay refused."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from django.utils import timezone

from orchestrator import service
from orchestrator.context import RunContext
from orchestrator.errors import ArtifactNameError
from orchestrator.models import Job, RunArtifact


@pytest.fixture
def step_ctx(db, settings, tmp_path: Path) -> RunContext:
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    run = service.build_run(service.RunRequest(job=Job.objects.get(key="noop"), trigger="manual"), now=timezone.now())
    service.insert_runs([run])
    return RunContext(
        run_id=run.id,
        job_key="report",
        attempt=1,
        trigger="manual",
        snapshot={"params": {}},
        logger=logging.getLogger("test"),
        step_id="report",
        upstream={"triage": {"job": "log_triage", "result": {"lines": 3}}},
    )


def test_a_step_writes_under_its_own_folder(step_ctx: RunContext, tmp_path: Path):
    artifact = step_ctx.write_artifact("report.md", "# hi\n")
    assert artifact.name == "report/report.md"
    assert artifact.path == f"{step_ctx.run_id}/report/report.md"
    assert (tmp_path / "artifacts" / artifact.path).read_text() == "# hi\n"
    assert step_ctx.upstream["triage"]["result"] == {"lines": 3}


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../triage/triage.json", "'.' or '..' segment"),
        ("/etc/passwd", "absolute path"),
        ("nul\x00.txt", "NUL or control"),
        ("/".join(["x" * 63] * 4), "longer than 255"),  # 255 characters, too long once prefixed
        ("", "is empty"),
    ],
)
def test_a_step_cannot_escape_its_folder(step_ctx: RunContext, name, problem):
    with pytest.raises(ArtifactNameError, match=problem):
        step_ctx.write_artifact(name, "x")
    assert not RunArtifact.objects.filter(run_id=step_ctx.run_id).exists()
