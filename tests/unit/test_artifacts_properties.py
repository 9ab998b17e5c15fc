"""Artifact names from random text: each is refused or lands inside the run's folder; a symlinked
file is no way out either."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from orchestrator import artifacts
from orchestrator.errors import ArtifactNameError

RUN = uuid.UUID("00000000-0000-0000-0000-000000000002")
segments = st.one_of(st.sampled_from(["..", ".", "", "~", "/", "\\", "..\\..", "%2e%2e", "\x00"]), st.text(max_size=12))
names = st.one_of(st.lists(segments, min_size=1, max_size=7).map("/".join), st.text(max_size=40))


@given(name=names)
def test_a_random_name_is_refused_or_stays_inside_the_run_folder(tmp_path_factory, name):
    base = tmp_path_factory.mktemp("artifacts")
    with override_settings(ARTIFACTS_DIR=base):
        try:
            written = artifacts.write(RUN, name, b"x")
        except ArtifactNameError:
            return
        target = (base / written.relative_path).resolve()
        assert target.is_relative_to((base / str(RUN)).resolve()), (name, target)
        assert target.read_bytes() == b"x"


def test_a_symlinked_file_cannot_lead_outside(tmp_path: Path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    base = tmp_path / "artifacts"
    (base / str(RUN)).mkdir(parents=True)
    (base / str(RUN) / "report.txt").symlink_to(outside)
    with override_settings(ARTIFACTS_DIR=base), pytest.raises(ArtifactNameError, match="outside"):
        artifacts.write(RUN, "report.txt", "overwritten?")
    assert outside.read_text() == "keep me"
