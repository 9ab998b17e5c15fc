"""Reading schedule YAML at scale (no database): the alias-bomb guard counts what aliases add."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduling.yaml_sync import read_file

LIMIT = 200_000  # scheduling.yaml_load.MAX_ALIAS_VALUES


def _read(tmp_path: Path, text: str):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return read_file(path, "configs/s.yaml")


def test_a_large_file_without_aliases_is_read_whatever_its_number_of_values(tmp_path: Path):
    # 30,000 entries of 7 values each (210,000, past the alias limit), 1.3 MB: under the size cap
    text = "".join(f"- id: n{index}\n  job: noop\n  interval_seconds: 60\n" for index in range(30_000))
    entries, problems = _read(tmp_path, text)
    assert problems == []
    assert len(entries) == 30_000 and entries[-1].name == "n29999" and entries[-1].line == 3 * 29_999 + 1


def test_aliases_are_counted_by_the_values_they_add(tmp_path: Path):
    shared = "{" + ", ".join(f"k{index}: {index}" for index in range(98)) + "}"  # 197 values with its keys
    entries = [f"- id: first\n  job: noop\n  interval_seconds: 60\n  params: &shared {shared}\n"]
    entries += [f"- id: e{index}\n  job: noop\n  interval_seconds: 60\n  params: *shared\n" for index in range(1000)]
    accepted, problems = _read(tmp_path, "".join(entries))  # 1,000 aliases add 197,000 values
    assert problems == [] and len(accepted) == 1001 and accepted[-1].values["params"]["k97"] == 97

    entries += [f"- id: more{index}\n  job: noop\n  interval_seconds: 60\n  params: *shared\n" for index in range(20)]
    refused, problems = _read(tmp_path, "".join(entries))  # 1,020 add 200,940
    assert refused == []
    [problem] = problems
    assert problem.field == "file" and problem.line is None
    assert problem.message.startswith(f"its aliases add more than {LIMIT} values (copies of what they refer to)")
    assert "aliases are expanded" in problem.message


def test_an_alias_bomb_is_refused_without_being_expanded(tmp_path: Path):
    lines = ['- id: bomb\n  job: noop\n  params:\n    l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"    l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 30)]  # 9**30 values
    _, [problem] = _read(tmp_path, "\n".join(lines) + "\n  interval_seconds: 60\n")
    assert f"its aliases add more than {LIMIT} values" in problem.message


def test_an_alias_inside_what_it_refers_to_is_refused(tmp_path: Path):
    _, [problem] = _read(tmp_path, "- &entry\n  id: loop\n  job: noop\n  interval_seconds: 60\n  params: [*entry]\n")
    assert problem.field == "file" and "expands without end" in problem.message


@pytest.mark.parametrize(
    ("value", "message"),
    [("2026-02-30T10:00:00Z", "day is out of range for month"), ("0b_", "invalid literal for int() with base 2")],
)
def test_a_value_yaml_resolves_but_cannot_build_is_refused_at_its_line(tmp_path: Path, value: str, message: str):
    # PyYAML's safe constructor raised a bare ValueError here: the sync ended in a traceback
    _, [problem] = _read(tmp_path, f"- id: x\n  job: noop\n  run_at: {value}\n")
    assert (problem.field, problem.line) == ("file", 3)
    assert problem.message.startswith(f"is not valid YAML: {message}") and problem.message.endswith(repr(value))
