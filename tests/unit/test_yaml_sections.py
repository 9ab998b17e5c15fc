"""The named lists of a schedules file (calendars, notification rules): one reader, the same messages."""

from __future__ import annotations

import pytest
import yaml

from scheduling.surfaces import yaml_calendars, yaml_notifications, yaml_sections


def read(section: yaml_sections.Section, text: str, shown: str = "f.yaml"):
    node = yaml.compose(text)
    return yaml_sections.read(section, yaml.safe_load(text), node, shown)


@pytest.mark.parametrize(
    ("section", "plural", "example", "short"),
    [
        (yaml_calendars.SECTION, "calendars", "name: ..., dates: ...", "calendar"),
        (yaml_notifications.SECTION, "rules", "name: ..., events: ...", "rule"),
    ],
)
def test_shape_keys_and_names_are_checked_with_file_line_entry_and_field(section, plural, example, short):
    assert read(section, "name: x")[1][0].message == f"must be a list of {plural} (- name: ...)"
    entries, problems = read(section, "- just text\n- name: ''\n- name: ok\n  nmae: typo\n- name: good\n")
    assert [(p.line, p.entry, p.field, p.message) for p in problems] == [
        (1, 1, section.key, f"must be a mapping ({example})"),
        (2, 2, "name", f"is required: the {short}'s unique name"),
        (3, 3, "nmae", "unknown key; did you mean name?"),
    ]
    assert [(e.name, e.line, e.index, e.path) for e in entries] == [("good", 5, 4, "f.yaml")]
    first, _ = read(section, "- name: twice\n", "a.yaml")
    again, _ = read(section, "\n- name: twice\n", "b.yaml")
    (duplicate,) = yaml_sections.duplicate_names(section, first + again)
    assert (duplicate.path, duplicate.line, duplicate.field) == ("b.yaml", 2, "name")
    assert duplicate.message == f"{section.noun} also defined in a.yaml:1; {short} names are unique"


def test_a_rule_refuses_a_written_secret_and_needs_its_secret_env_set(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    text = "- name: r\n  secret: abc\n- name: s\n  secret_env: NOT_SET_ANYWHERE\n- name: t\n  secret_env: ''\n"
    entries, problems = read(yaml_notifications.SECTION, text)
    assert entries == []
    assert [(p.entry, p.field, p.message) for p in problems] == [
        (1, "secret", "a secret is never written in a file: put it in an environment variable, name it in secret_env"),
        (2, "secret_env", "the environment variable NOT_SET_ANYWHERE is not set"),
        (3, "secret_env", "must name an environment variable"),
    ]
    monkeypatch.setenv("NOT_SET_ANYWHERE", "x")
    entries, problems = read(
        yaml_notifications.SECTION, "- name: s\n  secret_env: NOT_SET_ANYWHERE\n  events: [run_failed]\n"
    )
    assert problems == [] and entries[0].values == {"secret_env": "NOT_SET_ANYWHERE", "events": ["run_failed"]}
