"""YAML sync fed malformed files: bad YAML, wrong types, unknown keys, huge files, alias bombs,
deep nesting, binary junk. Each is refused with an error naming the file (and entry and field
where there is one), and the database is exactly as before: nothing half-written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.models import Directive, Job, Run
from scheduling.models import Schedule, ScheduledRun
from scheduling.surfaces import yaml_sync
from scheduling.surfaces.yaml_sync import SyncError, sync

pytestmark = pytest.mark.django_db

GOOD = """
- id: good-heartbeat
  job: noop
  interval_seconds: 60
- id: good-nightly
  job: noop
  cron: "30 2 * * *"
  timezone: Europe/Berlin
"""
#: A valid first entry, so a bad second one shows nothing is written even when part could be.
ALSO_NEW = """
- id: fresh-one
  job: noop
  interval_seconds: 120
"""

BAD_FILES = {
    "syntax": ("- id: x\n  job: noop\n  cron: [unclosed\n", "file", "is not valid YAML"),
    "tab indentation": ("- id: x\n\tjob: noop\n", "file", "is not valid YAML"),
    "not a list": ("id: x\njob: noop\n", "file", "must be a list"),
    "entry not a mapping": ("- just a string\n", "file", "must be a mapping"),
    "unknown key": ("- id: x\n  job: noop\n  interval_seconds: 60\n  colour: red\n", "colour", "unknown key"),
    "misspelt key": ("- id: x\n  job: noop\n  interval_secnds: 60\n", "interval_secnds", "did you mean"),
    "interval as text": ("- id: x\n  job: noop\n  interval_seconds: often\n", "interval_seconds", ""),
    "negative interval": ("- id: x\n  job: noop\n  interval_seconds: -5\n", "interval_seconds", ""),
    "cron as number": ("- id: x\n  job: noop\n  cron: 5\n", "cron", "must be text"),
    "bad cron": ("- id: x\n  job: noop\n  cron: '61 * * * *'\n", "cron", ""),
    "bad zone": ("- id: x\n  job: noop\n  cron: '0 2 * * *'\n  timezone: Mars/Olympus\n", "timezone", "unknown"),
    "params a list": ("- id: x\n  job: noop\n  interval_seconds: 60\n  params: [1, 2]\n", "params", ""),
    "job a list": ("- id: x\n  job: [noop]\n  interval_seconds: 60\n", "job", "must be the key of a job"),
    "unknown job": ("- id: x\n  job: no_such_job\n  interval_seconds: 60\n", "job", ""),
    "enabled not a boolean": ("- id: x\n  job: noop\n  interval_seconds: 60\n  enabled: maybe\n", "enabled", ""),
    "no misfire grace": (
        "- id: x\n  job: noop\n  interval_seconds: 60\n  misfire_grace_seconds: 0\n",
        "misfire_grace_seconds",
        "at least 1 second",
    ),
    "limit zero": ("- id: x\n  job: noop\n  interval_seconds: 60\n  max_concurrency: 0\n", "max_concurrency", ""),
    "wall time in a DST gap": (
        "- id: x\n  job: noop\n  run_at: 2030-03-31T02:30:00\n  timezone: Europe/Berlin\n",
        "run_at",
        "does not exist in Europe/Berlin",
    ),
    "year one": (
        "- id: x\n  job: noop\n  cron: '0 2 * * *'\n  start_at: 0001-01-01T00:00:00+01:00\n",
        "start_at",
        "year",
    ),
    "year 9999": ("- id: x\n  job: noop\n  run_at: '9999-12-31T23:59:59-05:00'\n", "run_at", "year"),
    "nul": ('- id: x\n  job: noop\n  interval_seconds: 60\n  description: "a\\0b"\n', "description", "NUL"),
    "lone surrogate": (
        '- id: x\n  job: noop\n  interval_seconds: 60\n  tenant: "a\\ud800b"\n',
        "tenant",
        "lone surrogates",
    ),
    "no name": ("- job: noop\n  interval_seconds: 60\n", "id", "is required"),
    "duplicate key": (
        "- id: x\n  job: noop\n  interval_seconds: 60\n  interval_seconds: 30\n",
        "interval_seconds",
        "twice",
    ),
    "empty key": ('- id: x\n  job: noop\n  interval_seconds: 60\n  "": 1\n', "''", "unknown key"),
    "number key": ("- id: x\n  job: noop\n  interval_seconds: 60\n  42: 1\n", "42", "unknown key"),
    "python tag": ("- id: x\n  job: !!python/object/apply:os.system [echo pwned]\n", "file", "is not valid YAML"),
}


def dump_tables() -> dict[str, list[dict]]:
    """Every row of every table the sync could touch: the 'before' to compare with."""
    models: tuple[Any, ...] = (Schedule, ScheduledRun, Job, Directive, Run, LogEntry)
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in models}


@pytest.fixture
def synced(tmp_path: Path) -> Path:
    folder = tmp_path / "schedules"
    folder.mkdir()
    (folder / "good.yaml").write_text(GOOD)
    sync(folder)
    (folder / "good.yaml").write_text(GOOD + ALSO_NEW)  # a valid change that must not be applied either
    return folder


def _refused(folder: Path, bad_name: str) -> SyncError:
    before = dump_tables()
    with pytest.raises(SyncError) as caught:
        sync(folder, prune=True)
    assert dump_tables() == before, "a refused sync changed the database"
    assert all(problem.path.endswith(bad_name) for problem in caught.value.problems), caught.value
    assert "nothing was applied" in str(caught.value)
    return caught.value


@pytest.mark.parametrize(("text", "field", "fragment"), BAD_FILES.values(), ids=list(BAD_FILES))
def test_a_malformed_file_is_refused_by_file_entry_and_field(synced: Path, text, field, fragment):
    (synced / "bad.yaml").write_text(text)
    error = _refused(synced, "bad.yaml")
    matching = [p for p in error.problems if p.field == field and fragment in p.message]
    assert matching, f"no problem on {field!r} mentioning {fragment!r}: {error}"
    if field != "file":
        assert matching[0].entry == 1 and matching[0].line is not None


def test_the_command_prints_the_errors_without_a_traceback(synced: Path):
    (synced / "bad.yaml").write_text(BAD_FILES["unknown key"][0])
    with pytest.raises(CommandError) as caught:
        call_command("sync_schedules", str(synced))
    assert "bad.yaml" in str(caught.value) and "colour" in str(caught.value)


def test_a_huge_file_is_refused_before_it_is_parsed(synced: Path):
    entry = "- id: n{}\n  job: noop\n  interval_seconds: 60\n"
    with open(synced / "huge.yaml", "w") as handle:
        index = 0
        while handle.tell() <= yaml_sync.MAX_FILE_BYTES:
            handle.write(entry.format(index))
            index += 1
    error = _refused(synced, "huge.yaml")
    assert "the limit is" in str(error) and "split it" in str(error)


def test_an_alias_bomb_is_refused_without_expanding_it(synced: Path):
    lines = [
        "- id: bomb",
        "  job: noop",
        "  interval_seconds: 60",
        '  l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    lines += [f"  l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 10)]
    lines += ["  params: {bomb: *l9}"]
    (synced / "bomb.yaml").write_text("\n".join(lines) + "\n")
    error = _refused(synced, "bomb.yaml")
    assert "aliases are expanded" in str(error)


def test_deep_nesting_is_refused(synced: Path):
    (synced / "deep.yaml").write_text("- id: x\n  job: noop\n  params: " + "[" * 5000 + "]" * 5000 + "\n")
    error = _refused(synced, "deep.yaml")
    assert "nested too deeply" in str(error)


@pytest.mark.parametrize(
    "junk",
    [b"\xff\xfe\x00\x00binary", b"\x00" * 100, bytes(range(256)), b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"],
    ids=["utf16-bom", "nuls", "all-bytes", "png"],
)
def test_binary_junk_is_refused(synced: Path, junk: bytes):
    (synced / "junk.yaml").write_bytes(junk)
    error = _refused(synced, "junk.yaml")
    assert any(p.field == "file" for p in error.problems), error


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
entry_like = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=10)},
    optional={key: yaml_values for key in (*yaml_sync.ENTRY_KEYS - {"id"}, "unknown")},
)


@given(document=st.one_of(yaml_values, st.lists(entry_like, max_size=3)), raw=st.binary(max_size=300))
def test_random_documents_and_bytes_apply_or_are_refused_cleanly(tmp_path_factory, document, raw):
    folder = tmp_path_factory.mktemp("fuzz")
    for name, content in (("doc.yaml", yaml.safe_dump(document).encode()), ("raw.yaml", raw)):
        path = folder / name
        path.write_bytes(content)
        before = dump_tables()
        try:
            sync(path)
        except SyncError as exc:
            assert dump_tables() == before, "a refused sync changed the database"
            assert all(problem.path.endswith(name) and problem.field for problem in exc.problems), exc
        path.unlink()
