"""``manage.py backfill NAME --from --to [--overlap] [--dry-run]`` on PostgreSQL: errors name the option."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from scheduling.models import Backfill, ScheduledRun
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def _call(*args: str) -> str:
    out = StringIO()
    call_command("backfill", *args, stdout=out)
    return out.getvalue()


def test_backfill_records_a_backfill_by_cli():
    factories.schedule("noop", name="hourly", interval_seconds=3600)
    out = _call("hourly", "--from", "2026-01-05T00:00:00Z", "--to", "2026-01-05T03:00:00+00:00", "--overlap", "allow")
    backfill = Backfill.objects.get()
    assert f"backfill {backfill.pk} of hourly: 3 fire time(s)" in out
    assert (backfill.count, backfill.overlap_policy, backfill.requested_by) == (3, "allow", "cli")


def test_a_dry_run_lists_the_fire_times_and_writes_nothing():
    factories.schedule("noop", name="hourly", interval_seconds=3600)
    out = _call("hourly", "--from", "2026-01-05T00:00:00Z", "--to", "2026-01-06T00:00:00Z", "--dry-run")
    assert "dry run: 24 fire time(s) of hourly" in out and "nothing written" in out
    assert "2026-01-05T00:00:00+00:00" in out and "... and 4 more" in out
    assert not Backfill.objects.exists() and not ScheduledRun.objects.exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["nope", "--from", "2026-01-05T00:00:00Z", "--to", "2026-01-06T00:00:00Z"], "no schedule named 'nope'"),
        (["hourly", "--from", "soon", "--to", "2026-01-06T00:00:00Z"], "--from: 'soon' is not a date and time"),
        (["hourly", "--from", "2026-01-05T00:00:00", "--to", "2026-01-06T00:00:00Z"], "--from: give a time zone"),
        (["hourly", "--from", "2026-01-06T00:00:00Z", "--to", "2026-01-05T00:00:00Z"], "--to: must be after start"),
        (["hourly", "--from", "2026-01-05T00:00:00Z", "--to", "2999-01-01T00:00:00Z"], "--to: must not be after now"),
    ],
)
def test_bad_input_names_the_option(args, words):
    factories.schedule("noop", name="hourly", interval_seconds=3600)
    with pytest.raises(CommandError, match=words.replace("(", r"\(").replace(".", r"\.")):
        _call(*args)
    assert not Backfill.objects.exists()


def test_an_unknown_overlap_exits_non_zero_naming_the_option(tmp_path):
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SCHEDULER_VAR_DIR": str(tmp_path / "var")}
    done = subprocess.run(
        [sys.executable, "manage.py", "backfill", "x", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z",
         "--overlap", "skip"],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "--overlap: invalid choice: 'skip'" in done.stderr
