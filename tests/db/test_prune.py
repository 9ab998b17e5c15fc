"""``manage.py prune``: old runs, their artifacts, token rows and occurrences go in batches; the newest stay."""

from __future__ import annotations

import io
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from orchestrator import artifacts
from orchestrator.models import LLMCall, Run, RunArtifact
from scheduling.models import OccurrenceStatus, ScheduledRun
from tests import factories


@pytest.fixture
def places(settings, tmp_path: Path) -> tuple[Path, Path]:
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.EVENTS_PATH = tmp_path / "logs" / "events.jsonl"
    return settings.ARTIFACTS_DIR, settings.EVENTS_PATH


def make_run(days_old: float, *, status: str = "succeeded", schedule=None) -> Run:
    created = timezone.now() - timedelta(days=days_old)
    run = factories.run_row("noop", trigger="manual", now=created, status=status)
    written = artifacts.write(run.id, "out/report.txt", f"run {run.id}\n")
    RunArtifact.objects.create(
        run=run,
        name=written.name,
        path=written.relative_path,
        size_bytes=written.size_bytes,
        sha256=written.sha256,
        content_type=written.content_type,
    )
    LLMCall.objects.create(run=run, model="m", prompt_tokens=10, completion_tokens=5)
    if schedule is not None:
        ScheduledRun.objects.create(
            schedule=schedule,
            scheduled_for=created,
            status=OccurrenceStatus.DISPATCHED,
            run=run,
            dispatched_at=created,
            created_at=created,
        )
    return run


def prune(*args: str) -> str:
    out = io.StringIO()
    call_command("prune", *args, stdout=out)
    return out.getvalue()


def state(artifacts_dir: Path) -> dict:
    return {
        "runs": set(Run.objects.values_list("id", flat=True)),
        "artifacts": RunArtifact.objects.count(),
        "llm_calls": LLMCall.objects.count(),
        "occurrences": ScheduledRun.objects.count(),
        "folders": sorted(p.name for p in artifacts_dir.iterdir()),
    }


def test_prune_dry_run_then_real_run(db, places):
    artifacts_dir, events_path = places
    first = factories.schedule("noop", kind="cron", cron="0 3 * * *")
    second = factories.schedule("noop", kind="cron", cron="0 4 * * *")
    kept_newest = [make_run(40, schedule=first), make_run(41, schedule=first)]
    old_of_first = [make_run(42, schedule=first), make_run(43, schedule=first)]
    old_of_second = make_run(50, schedule=second)
    recent_of_second = [make_run(1, schedule=second), make_run(2, schedule=second)]
    manual_old = make_run(60)
    active_old = make_run(45, status="running")
    recent = make_run(1)
    skipped = ScheduledRun.objects.create(
        schedule=first,
        scheduled_for=timezone.now() - timedelta(days=50, hours=1),
        status=OccurrenceStatus.SKIPPED,
        created_at=timezone.now() - timedelta(days=50),
    )
    buffered = ScheduledRun.objects.create(
        schedule=first,
        scheduled_for=timezone.now() - timedelta(days=50, hours=2),
        status=OccurrenceStatus.BUFFERED,
        created_at=timezone.now() - timedelta(days=50),
    )
    orphan = artifacts_dir / str(uuid.uuid4())
    (orphan / "x").mkdir(parents=True)
    (orphan / "x" / "left.txt").write_text("left behind by a crash")
    os.utime(orphan, (0, 0))
    (artifacts_dir / "not-a-run").mkdir()
    os.utime(artifacts_dir / "not-a-run", (0, 0))
    events_path.parent.mkdir(parents=True)
    events_path.write_text('{"event": "run_finished"}\n' * 100)
    events_path.with_name("events.jsonl.1").write_text("older\n")
    before = state(artifacts_dir)

    dry = prune("--older-than", "30d", "--keep", "2", "--batch-size", "2", "--events-max-bytes", "1000", "--dry-run")
    assert state(artifacts_dir) == before, "a dry run changes nothing"
    assert events_path.stat().st_size > 1000 and not events_path.with_name("events.jsonl.2").exists()
    doomed = [*old_of_first, old_of_second, manual_old]
    assert "runs:        would delete 4 in " in dry and "kept 2 as the newest" in dry
    assert "artifacts:   would delete 4 file(s)" in dry and "in 4 run folder(s)" in dry
    assert "token rows:  would delete 4 LLM call record(s)" in dry
    assert "occurrences: would delete 4 " in dry  # three of pruned runs and the skipped one
    assert "orphans:     would delete 1 artifact folder(s)" in dry
    assert "event log:   would rotate" in dry and "dry run: nothing was changed" in dry

    real = prune("--older-than", "30d", "--keep", "2", "--batch-size", "2", "--events-max-bytes", "1000")
    counted = [line.replace("would delete", "deleted") for line in dry.splitlines()[1:6]]
    assert real.splitlines()[1:6] == counted, "the dry run predicted exactly what the real run did"
    after = state(artifacts_dir)
    survivors = {*[r.id for r in kept_newest], *[r.id for r in recent_of_second], active_old.id, recent.id}
    assert after["runs"] == survivors
    assert after["artifacts"] == after["llm_calls"] == len(survivors)
    assert after["folders"] == sorted([*(str(run_id) for run_id in survivors), "not-a-run"])
    for run in doomed:
        assert not artifacts.run_dir(run.id).exists()
    assert not ScheduledRun.objects.filter(pk=skipped.pk).exists()
    assert ScheduledRun.objects.filter(pk=buffered.pk).exists(), "a buffered occurrence still waits to run"
    assert ScheduledRun.objects.filter(run__isnull=True).count() == 1
    assert "batch(es)" in real and "rotated" in real

    assert not events_path.exists(), "the next event creates a fresh log"
    assert events_path.with_name("events.jsonl.1").read_text().count("run_finished") == 100
    assert events_path.with_name("events.jsonl.2").read_text() == "older\n"

    again = prune("--older-than", "30d", "--keep", "2")
    assert "runs:        deleted 0 in 0 batch(es); kept 2 as the newest" in again
    assert "event log:   0 B, under 100.0 MiB; not rotated" in again


def test_keep_zero_prunes_every_old_run(db, places):
    schedule = factories.schedule("noop", kind="cron", cron="0 3 * * *")
    old = [make_run(31 + day, schedule=schedule) for day in range(3)]
    young = make_run(29, schedule=schedule)
    out = prune("--older-than", "30d", "--keep", "0")
    assert "deleted 3 in 1 batch(es); kept 0" in out
    assert set(Run.objects.values_list("id", flat=True)) == {young.id}
    assert not any(artifacts.run_dir(run.id).exists() for run in old)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "30"], "is not an age"),
        (["--older-than", "0d"], "is not an age"),
        (["--older-than", "30d", "--keep", "-1"], "--keep must be 0 or more"),
        (["--older-than", "30d", "--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_bad_arguments_are_refused(db, places, args, message):
    with pytest.raises(CommandError, match=message):
        prune(*args)
