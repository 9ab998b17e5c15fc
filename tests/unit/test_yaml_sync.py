"""Reading schedule YAML (no database): both formats, the dag mapping, and errors that say where."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from scheduling.surfaces.yaml_sync import read_file


def _read(tmp_path: Path, text: str):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return read_file(path, "configs/s.yaml")


def test_seed_format_maps_id_and_dag(tmp_path: Path):
    entries, problems = _read(
        tmp_path,
        """
- id: nightly-etl
  cron: "0 1 * * *"
  dag: configs/dags/x.yaml
  tenant: data
  enabled: false
""",
    )
    assert problems == []
    (entry,) = entries
    assert entry.name == "nightly-etl" and entry.line == 2 and entry.index == 1
    # as written: the kind and every value's type are the shared input's (tests/db/test_schedule_doors.py)
    assert entry.values == {
        "cron": "0 1 * * *",
        "tenant": "data",
        "enabled": False,
        "job": "dag",
        "params": {"dag": "configs/dags/x.yaml"},
    }
    assert entry.job_key_from == "dag"


def test_full_format_keeps_the_values_as_written(tmp_path: Path):
    entries, problems = _read(
        tmp_path,
        """
- name: every-5m
  job: noop
  interval_seconds: 300
  start_at: 2030-01-01T00:00:00Z
  end_at: "2030-02-01T00:00:00+01:00"
  overlap_policy: buffer_one
- name: once
  job: noop
  run_at: 2030-01-01T10:00:00Z
""",
    )
    assert problems == []
    assert "kind" not in entries[0].values, "inferred by the shared input, as at every door"
    assert entries[0].values["interval_seconds"] == 300
    assert entries[0].values["start_at"] == datetime(2030, 1, 1, tzinfo=UTC)  # YAML's own timestamp
    assert entries[0].values["end_at"] == "2030-02-01T00:00:00+01:00"  # quoted: text, read by the shared input
    assert entries[1].values["run_at"] == datetime(2030, 1, 1, 10, tzinfo=UTC) and entries[1].line == 8


def test_problems_name_file_line_entry_and_field(tmp_path: Path):
    entries, problems = _read(
        tmp_path,
        """
- id: fine
  job: noop
  cron: "* * * * *"
- id: typo
  job: noop
  crn: "* * * * *"
- id: naive
  job: noop
  run_at: 2030-01-01 10:00:00
- id: dup
  job: noop
  cron: "1 * * * *"
  cron: "2 * * * *"
- just a string
- job: noop
  cron: "* * * * *"
""",
    )
    assert [e.name for e in entries] == ["fine", "naive", "dup"]  # a naive time is read in the schedule's zone
    text = [str(p) for p in problems]
    assert "configs/s.yaml:5: entry 2 (typo): crn: unknown key; did you mean cron?" in text
    assert "configs/s.yaml:14: entry 4: cron: is given twice in this entry" in text
    assert any(t.startswith("configs/s.yaml:15: entry 5: file: must be a mapping") for t in text)
    assert any(t.startswith("configs/s.yaml:16: entry 6: id: is required") for t in text)


def test_yaml_syntax_errors_point_at_the_line_and_hint_at_quoting(tmp_path: Path):
    entries, problems = _read(tmp_path, "- id: x\n  job: noop\n  cron: */5 * * * *\n")
    assert entries == []
    (problem,) = problems
    assert problem.line == 3 and "quote cron expressions" in problem.message


def test_a_file_must_be_a_list_and_may_be_empty(tmp_path: Path):
    assert _read(tmp_path, "") == ([], [])
    _, problems = _read(tmp_path, "id: x\ncron: '* * * * *'\n")
    assert "must be a list" in problems[0].message


def test_dag_and_another_job_conflict(tmp_path: Path):
    _, problems = _read(tmp_path, "- id: x\n  job: noop\n  dag: a.yaml\n  cron: '* * * * *'\n")
    assert [(p.field, p.message) for p in problems] == [("dag", "an entry with dag runs the job 'dag'; leave job out")]


def test_nul_characters_are_refused_before_any_query(tmp_path: Path):
    entries, problems = _read(tmp_path, '- id: "bad\\0name"\n  job: "no\\0op"\n  cron: "* * * * *"\n')
    assert entries == []
    assert {(p.field, p.message) for p in problems} == {
        ("id", "must not contain NUL (\\u0000) characters"),
        ("job", "must not contain NUL (\\u0000) characters"),
    }
