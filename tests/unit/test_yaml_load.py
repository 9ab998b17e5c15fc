"""Reading schedule YAML at scale (no database): the alias-bomb guard counts what aliases add, and the
fast (libyaml) reading gives exactly the entries and problems of PyYAML's pure-Python reading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from scheduling.surfaces.yaml_sync import read_file

LIMIT = 200_000  # scheduling.yaml_load.MAX_ALIAS_VALUES


def _read(tmp_path: Path, text: str, **options):
    path = tmp_path / "s.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return read_file(path, "configs/s.yaml", **options)


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
    for fast in (True, False):
        _, [problem] = _read(tmp_path, f"- id: x\n  job: noop\n  run_at: {value}\n", fast=fast)
        assert (problem.field, problem.line) == ("file", 3)
        assert problem.message.startswith(f"is not valid YAML: {message}") and problem.message.endswith(repr(value))


def test_deep_nesting_is_refused_not_a_crash(tmp_path: Path):
    # libyaml's own composer recurses in C: this depth crashed the process; ours raises RecursionError
    depth = 300_000
    _, [problem] = _read(tmp_path, "- id: x\n  job: noop\n  params: " + "[" * depth + "]" * depth + "\n")
    assert problem.message == "is nested too deeply to be a schedules file"


# --- the fast reading agrees with the pure one, on anything -----------------------------------------

SNIPPETS = [
    "- ", "  ", "    ", "\n", "\r\n", "id: ", "job: noop", "cron: ", '"*/5 * * * *"', "*/5 * * * *", "&a ", "*a",
    "<<: *a", "<<", "{", "}", "[", "]", ", ", ",", ": ", ":", "? ", "?", "-", "!!str ", "! ", "!", "!x ",
    "!!python/object:os.system ", "%TAG ! tag:x,2000:\n", "'quoted'", "'it''s'", '"\\u00e9\\0"', '"\\x41\\t"',
    '"', "'", "\\", "@", "`", "|\n  block\n", ">-\n  folded\n", "|", ">", "# comment", " #", "---\n", "...\n",
    "\t", "%YAML 1.1\n", "2026-01-01T02:00:00Z", "2001-12-14 21:59:43.10 -5", "2026-01-01", "12:30:00", "0x1F",
    "0o17", "0b101", "1_000", "1e3", "+.inf", "-0", ".nan", "~", "null", "NULL", "yes", "on", "True", "=", "é",
    "日本", "\u2028", "\x85", "\ufeff", "\x07", "interval_seconds: 60", "a" * 1030,
]  # fmt: skip
documents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.datetimes().map(str)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)


#: Texts libyaml and PyYAML read differently, each found by the tests below: left to the pure reading.
DIVERGENT = [
    "\u2028\ufeff",  # a document to PyYAML, empty to libyaml
    "- 2026-01-01T02:00:00Z\t\n",  # a tab after a plain value: an error to PyYAML only
    "- !\n",  # an empty value tagged "!": None to PyYAML, "" to libyaml
    "- ># comment\n",  # no space before the comment: an error to PyYAML only
    "- [a?b]\n",  # a "?" in an unquoted value in brackets: an error to PyYAML only
    "- [?, a]\n",  # a lone "?" in brackets: a mapping to libyaml, an error to PyYAML
]


@pytest.mark.parametrize("text", DIVERGENT)
def test_what_libyaml_reads_differently_is_read_as_pyyaml_reads_it(tmp_path: Path, text: str):
    _both(tmp_path, text)


def _both(tmp_path: Path, text: str) -> None:
    fast = _read(tmp_path, text)
    pure = _read(tmp_path, text, fast=False)
    assert repr(fast) == repr(pure), text  # repr: a .nan in params is not equal to itself


@given(pieces=st.lists(st.sampled_from(SNIPPETS), max_size=30))
def test_fast_and_pure_reading_agree_on_yaml_shaped_text(tmp_path_factory, pieces):
    _both(tmp_path_factory.mktemp("agree"), "".join(pieces))


@given(document=st.lists(documents, max_size=4), shared=documents)
def test_fast_and_pure_reading_agree_on_documents_with_aliases(tmp_path_factory, document, shared):
    # the same object twice makes safe_dump write an anchor and an alias
    text = yaml.safe_dump([*document, {"id": "a", "params": shared}, {"id": "b", "params": shared}])
    _both(tmp_path_factory.mktemp("agree"), text)


tricky = st.text(alphabet=list("ab0 :#-?'\"\\!&*é[]{},|>%@`.~_"), max_size=6)
scalars = st.one_of(
    tricky,
    tricky.map(lambda text: "'" + text.replace("'", "''") + "'"),
    tricky.map(json.dumps),
    st.sampled_from(["1", "0x1f", "yes", "~", "", "2026-01-01T02:00:00Z", "12:30", ".inf", "*/5 * * * *"]),
)
trees = st.recursive(
    scalars,
    lambda children: st.tuples(st.sampled_from(["seq", "map", "flow_seq", "flow_map"]), st.lists(children, max_size=3)),
    max_leaves=10,
)


def _render(tree: Any, indent: int) -> str:
    """A value as it follows ``key:`` or ``-``: a scalar, a flow collection, or an indented block."""
    if isinstance(tree, str):
        return " " + tree
    style, items = tree
    flat = [item if isinstance(item, str) else "x" for item in items]
    if style == "flow_seq":
        return " [" + ", ".join(flat) + "]"
    if style == "flow_map":
        return " {" + ", ".join(f"{item}: {item}" for item in flat) + "}"
    pad = "\n" + " " * (indent + 2)
    if style == "seq":
        return "".join(f"{pad}-{_render(item, indent + 2)}" for item in items) or " []"
    return "".join(f"{pad}k{index}:{_render(item, indent + 2)}" for index, item in enumerate(items)) or " {}"


@given(values=st.lists(st.tuples(trees, trees), min_size=1, max_size=3))
def test_fast_and_pure_reading_agree_on_entry_shaped_documents(tmp_path_factory, values):
    text = "".join(f"- id:{_render(name, 0)}\n  params:{_render(params, 2)}\n" for name, params in values)
    _both(tmp_path_factory.mktemp("agree"), text)


@given(text=st.text(max_size=200))
def test_fast_and_pure_reading_agree_on_random_text(tmp_path_factory, text):
    _both(tmp_path_factory.mktemp("agree"), text)
