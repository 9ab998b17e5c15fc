"""``manage.py sync_schedules`` on PostgreSQL: both formats, atomic failure, dry run, idempotence, prune."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from scheduling.models import Schedule
from scheduling.surfaces.yaml_sync import display_path, sync
from tests import factories

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def _sync(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("sync_schedules", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


TEAM_A = """
- id: a-heartbeat
  job: noop
  interval_seconds: 60
- id: a-nightly
  job: sleep
  params: {seconds: 1}
  cron: "30 2 * * *"
  timezone: Europe/Berlin
  overlap_policy: buffer_one
  misfire_policy: skip
  max_concurrency: 2
  tenant: a
"""


def test_full_format_creates_schedules_with_every_field(tmp_path: Path):
    path = _write(tmp_path / "team", "a.yaml", TEAM_A)
    out, _ = _sync(str(path))
    assert "create" in out and "2 created, 0 updated, 0 unchanged, 0 pruned (1 file)" in out
    nightly = Schedule.objects.get(name="a-nightly")
    assert (nightly.job.key, nightly.kind, nightly.cron, nightly.timezone) == (
        "sleep",
        "cron",
        "30 2 * * *",
        "Europe/Berlin",
    )
    assert (nightly.overlap_policy, nightly.misfire_policy, nightly.max_concurrency) == ("buffer_one", "skip", 2)
    assert nightly.params == {"seconds": 1} and nightly.tenant == "a"
    assert nightly.source == "yaml" and nightly.source_path == display_path(path)
    assert nightly.next_run_at is not None
    heartbeat = Schedule.objects.get(name="a-heartbeat")
    assert heartbeat.kind == "interval" and heartbeat.interval_seconds == 60


def test_seed_format_with_a_registered_job_and_dag_entries(tmp_path: Path):
    seed = _write(
        tmp_path, "seed.yaml", '- id: seed-one\n  cron: "0 1 * * *"\n  job: noop\n  tenant: t1\n  enabled: false\n'
    )
    _sync(str(seed))
    row = Schedule.objects.get(name="seed-one")
    assert (row.cron, row.tenant, row.enabled, row.job.key) == ("0 1 * * *", "t1", False, "noop")

    shipped = _write(
        tmp_path, "ops.yaml", '- id: seed-dag\n  cron: "0 1 * * *"\n  dag: configs/dags/weekly_ops_chain.min.yaml\n'
    )
    _sync(str(shipped))
    row = Schedule.objects.get(name="seed-dag")
    assert row.job.key == "dag" and row.params == {"dag": "configs/dags/weekly_ops_chain.min.yaml"}

    missing = _write(tmp_path, "dag.yaml", '- id: seed-missing\n  cron: "0 1 * * *"\n  dag: configs/dags/x.yaml\n')
    with pytest.raises(CommandError) as failure:
        _sync(str(missing))
    message = str(failure.value)
    assert "dag.yaml:1: entry 1 (seed-missing): params: dag: configs/dags/x.yaml: does not exist" in message
    assert not Schedule.objects.filter(name="seed-missing").exists()


def test_one_bad_entry_means_nothing_is_applied_and_the_error_says_where(tmp_path: Path):
    folder = tmp_path / "configs"
    _write(folder, "a.yaml", TEAM_A)
    _write(
        folder,
        "b.yaml",
        '- id: b-ok\n  job: noop\n  cron: "0 * * * *"\n- id: b-bad\n  job: noop\n  cron: "61 * * * *"\n',
    )
    with pytest.raises(CommandError) as failure:
        _sync(str(folder))
    message = str(failure.value)
    shown = display_path(folder / "b.yaml")
    assert f"{shown}:4: entry 2 (b-bad): cron: is not a valid cron expression" in message
    assert message.rstrip().endswith("nothing was applied (1 error)")
    assert Schedule.objects.count() == 0


def test_model_validation_errors_are_reported_for_every_entry(tmp_path: Path):
    path = _write(
        tmp_path,
        "bad.yaml",
        """
- id: tz
  job: noop
  cron: "0 2 * * *"
  timezone: Europe/Berln
- id: policy
  job: noop
  cron: "0 2 * * *"
  overlap_policy: sometimes
- id: interval
  job: noop
  interval_seconds: 0
""",
    )
    with pytest.raises(CommandError) as failure:
        _sync(str(path))
    message = str(failure.value)
    assert "entry 1 (tz): timezone: unknown time zone 'Europe/Berln'. Did you mean Europe/Berlin" in message
    assert (
        "entry 2 (policy): overlap_policy: must be one of skip, allow, buffer_one, buffer_all, replace, not 'sometimes'"
        in message
    )
    assert "entry 3 (interval): interval_seconds:" in message
    assert "nothing was applied (3 errors)" in message
    assert Schedule.objects.count() == 0


def test_duplicate_names_across_files_are_an_error(tmp_path: Path):
    _write(tmp_path, "a.yaml", '- id: same\n  job: noop\n  cron: "0 * * * *"\n')
    _write(tmp_path, "b.yaml", '- id: same\n  job: noop\n  cron: "5 * * * *"\n')
    with pytest.raises(CommandError, match="id: is also defined in"):
        _sync(str(tmp_path))


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path):
    path = _write(tmp_path, "a.yaml", TEAM_A)
    _sync(str(path))
    path.write_text(
        TEAM_A.replace("interval_seconds: 60", "interval_seconds: 120")
        + '- id: a-new\n  job: noop\n  cron: "0 5 * * *"\n'
    )
    factories.schedule(name="admin-made", source="admin")
    out, _ = _sync(str(path), "--dry-run", "--prune")
    assert "would create     a-new" in out
    assert "would update     a-heartbeat" in out and "interval_seconds: 60 -> 120" in out
    assert "unchanged        a-nightly" in out
    assert "dry run, nothing written: would be 1 created, 1 updated, 1 unchanged, 0 pruned" in out
    assert not Schedule.objects.filter(name="a-new").exists()
    assert Schedule.objects.get(name="a-heartbeat").interval_seconds == 60


def test_rerunning_the_same_sync_changes_nothing_and_says_so(tmp_path: Path):
    path = _write(tmp_path, "a.yaml", TEAM_A)
    _sync(str(path))
    before = {s.name: (s.updated_at, s.next_run_at) for s in Schedule.objects.all()}
    out, _ = _sync(str(path), "--prune")
    assert out.strip() == "nothing to change: 2 schedule(s) already match (1 file)"
    assert {s.name: (s.updated_at, s.next_run_at) for s in Schedule.objects.all()} == before


def test_an_edit_updates_only_what_changed_and_a_removed_key_takes_the_default(tmp_path: Path):
    path = _write(tmp_path, "a.yaml", TEAM_A)
    _sync(str(path))
    path.write_text(TEAM_A.replace("  max_concurrency: 2\n", "").replace('"30 2 * * *"', '"45 2 * * *"'))
    out, _ = _sync(str(path))
    assert "update" in out and "cron: '30 2 * * *' -> '45 2 * * *'" in out and "max_concurrency: 2 -> None" in out
    row = Schedule.objects.get(name="a-nightly")
    assert row.cron == "45 2 * * *" and row.max_concurrency is None
    assert "0 created, 1 updated, 1 unchanged, 0 pruned" in out


def test_prune_disables_or_deletes_only_yaml_schedules_of_the_synced_path(tmp_path: Path):
    team_a = tmp_path / "a"
    team_b = tmp_path / "b"
    path_a = _write(team_a, "a.yaml", TEAM_A)
    _write(team_b, "b.yaml", '- id: b-only\n  job: noop\n  cron: "0 * * * *"\n')
    _sync(str(team_a))
    _sync(str(team_b))
    admin_made = factories.schedule(name="admin-made")  # source admin (the model default)
    api_made = factories.schedule(name="api-made", source="api")

    path_a.write_text("- id: a-heartbeat\n  job: noop\n  interval_seconds: 60\n")
    out, _ = _sync(str(team_a), "--prune")
    assert "prune" in out and "a-nightly" in out and "(disabled)" in out
    assert not Schedule.objects.get(name="a-nightly").enabled
    assert Schedule.objects.get(name="b-only").enabled, "another folder's schedules are out of scope"
    assert Schedule.objects.get(pk=admin_made.pk).enabled and Schedule.objects.get(pk=api_made.pk).enabled

    out, _ = _sync(str(team_a), "--prune")
    assert out.startswith("nothing to change"), "a pruned (disabled) schedule stays pruned without a change"

    out, _ = _sync(str(team_a), "--prune", "--delete")
    assert "(deleted)" in out
    assert not Schedule.objects.filter(name="a-nightly").exists()
    assert Schedule.objects.filter(name__in=["admin-made", "api-made", "b-only"]).count() == 3


def test_a_schedule_made_in_the_admin_is_not_taken_over_without_adopt(tmp_path: Path):
    factories.schedule(name="a-heartbeat", interval_seconds=30)
    path = _write(tmp_path, "a.yaml", TEAM_A)
    with pytest.raises(CommandError, match="made in the admin, not by a sync; rename the entry, or run with --adopt"):
        _sync(str(path))
    assert Schedule.objects.get(name="a-heartbeat").interval_seconds == 30
    out, _ = _sync(str(path), "--adopt")
    row = Schedule.objects.get(name="a-heartbeat")
    assert (row.source, row.interval_seconds) == ("yaml", 60)
    assert "source: 'admin' -> 'yaml'" in out


def test_progress_is_shown_per_file_for_a_folder(tmp_path: Path):
    for index in range(3):
        _write(tmp_path, f"f{index}.yaml", f'- id: p{index}\n  job: noop\n  cron: "{index} * * * *"\n')
    _, err = _sync(str(tmp_path))
    assert [line.split("] ")[0] for line in err.strip().splitlines()] == ["[1/3", "[2/3", "[3/3"]
    assert err.strip().splitlines()[0].endswith("f0.yaml: 1 entry")


def test_the_example_files_are_valid():
    report = sync(ROOT / "configs" / "schedules", dry_run=True)
    assert report.count("create") >= 3
    assert not Schedule.objects.exists()


def test_a_missing_path_is_an_error():
    with pytest.raises(CommandError, match="path: not found"):
        _sync("/nonexistent/schedules")


def test_a_limit_of_zero_is_reported_on_its_field(tmp_path: Path):
    path = _write(tmp_path, "a.yaml", '- id: zero\n  job: noop\n  cron: "0 * * * *"\n  max_concurrency: 0\n')
    with pytest.raises(CommandError, match=r"entry 1 \(zero\): max_concurrency: must be at least 1"):
        _sync(str(path))
