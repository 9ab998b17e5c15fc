"""Artifact names: nothing a job or a user writes can leave the run's folder."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from django.test import override_settings

from orchestrator import artifacts
from orchestrator.errors import ArtifactNameError

RUN = uuid.UUID("00000000-0000-0000-0000-000000000001")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../escape.txt", "'.' or '..' segment"),
        ("reports/../../escape.txt", "'.' or '..' segment"),
        ("..", "'.' or '..' segment"),
        ("./x", "'.' or '..' segment"),
        ("a//b", "an empty"),
        ("/etc/passwd", "absolute path"),
        ("nul\x00byte.txt", "NUL or control"),
        ("tab\there", "NUL or control"),
        ("back\\slash.txt", "backslash"),
        ("x" * 300, "longer than"),
        ("é" * 120, "longer than 200 bytes"),
        ("", "empty"),
        ("   ", "empty"),
        ("a/b/c/d/e/f.txt", "deeper than"),
        (None, "not a string"),
    ],
)
def test_bad_names_are_rejected(name, problem):
    with pytest.raises(ArtifactNameError) as caught:
        artifacts.validate_name(name)
    assert problem in str(caught.value)
    assert "name" in caught.value.errors


@pytest.mark.parametrize("name", ["report.json", "triage.md", "sub/folder/file.csv", "données.txt", ".hidden"])
def test_good_names_pass(name):
    assert artifacts.validate_name(name) == name


def test_write_is_atomic_and_inside_the_run_folder(tmp_path: Path):
    with override_settings(ARTIFACTS_DIR=tmp_path):
        written = artifacts.write(RUN, "sub/report.json", '{"ok": true}')
        target = tmp_path / str(RUN) / "sub" / "report.json"
        assert target.read_text() == '{"ok": true}'
        assert written.relative_path == f"{RUN}/sub/report.json"
        assert written.sha256 == hashlib.sha256(b'{"ok": true}').hexdigest()
        assert written.size_bytes == 12 and written.content_type == "application/json"
        assert not list(target.parent.glob(".tmp-*"))
        artifacts.write(RUN, "sub/report.json", b"replaced")
        assert target.read_bytes() == b"replaced"


def test_a_symlinked_folder_cannot_lead_outside(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    base = tmp_path / "artifacts"
    (base / str(RUN)).mkdir(parents=True)
    (base / str(RUN) / "link").symlink_to(outside)
    with override_settings(ARTIFACTS_DIR=base), pytest.raises(ArtifactNameError, match="outside"):
        artifacts.write(RUN, "link/file.txt", "x")
    assert not (outside / "file.txt").exists()
