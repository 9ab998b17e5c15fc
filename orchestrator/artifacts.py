"""Files a run writes, under ``ARTIFACTS_DIR/<run id>/``.

Names come from job code and, through params, from users: a name is checked before any file is
touched and refused (``ArtifactNameError``) when it is empty, too long, absolute, contains a NUL
or control character or a backslash, or has a ``.``/``..`` segment. Forward slashes make
sub-folders inside the run's folder. Writes are atomic (temporary file, then rename).
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from orchestrator.errors import ArtifactNameError

MAX_NAME_CHARS = 255
MAX_SEGMENT_BYTES = 200
MAX_DEPTH = 5


def validate_name(name: object) -> str:
    """Return ``name`` when it is a safe relative artifact path; raise ``ArtifactNameError`` otherwise."""
    if not isinstance(name, str):
        raise ArtifactNameError(repr(name), "is not a string")
    if not name.strip():
        raise ArtifactNameError(name, "is empty")
    if len(name) > MAX_NAME_CHARS:
        raise ArtifactNameError(name[:40] + "...", f"is longer than {MAX_NAME_CHARS} characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise ArtifactNameError(name, "contains a NUL or control character")
    if "\\" in name:
        raise ArtifactNameError(name, "contains a backslash; use '/' for sub-folders")
    if name.startswith("/"):
        raise ArtifactNameError(name, "is an absolute path; names are relative to the run's folder")
    segments = name.split("/")
    if len(segments) > MAX_DEPTH:
        raise ArtifactNameError(name, f"is nested deeper than {MAX_DEPTH} folders")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise ArtifactNameError(name, "has an empty, '.' or '..' segment")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise ArtifactNameError(name[:40] + "...", f"has a segment longer than {MAX_SEGMENT_BYTES} bytes")
    return name


def run_dir(run_id: uuid.UUID | str) -> Path:
    return Path(settings.ARTIFACTS_DIR) / str(uuid.UUID(str(run_id)))


def resolve(run_id: uuid.UUID | str, name: str) -> Path:
    """The absolute path of artifact ``name`` of run ``run_id``; never outside the run's folder."""
    base = run_dir(run_id).resolve()
    target = (base / validate_name(name)).resolve()
    if not target.is_relative_to(base):
        raise ArtifactNameError(name, "resolves outside the run's folder")
    return target


@dataclass(frozen=True, kw_only=True)
class WrittenArtifact:
    name: str
    relative_path: str
    size_bytes: int
    sha256: str
    content_type: str


def write(run_id: uuid.UUID | str, name: str, data: bytes | str, content_type: str | None = None) -> WrittenArtifact:
    """Write ``data`` atomically to the run's artifact ``name`` (replacing an earlier one of that name)."""
    target = resolve(run_id, name)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        Path(temp).replace(target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    guessed = content_type or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return WrittenArtifact(
        name=name,
        relative_path=str(target.relative_to(Path(settings.ARTIFACTS_DIR).resolve())),
        size_bytes=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        content_type=guessed,
    )
