"""A run's text artifact shown in place, safely.

Only names ending in ``.md``, ``.json``, ``.txt``, ``.log`` or ``.csv`` are shown; the file is read
through ``artifacts.resolve`` (a name can never reach outside the run's folder), at most
``MAX_SHOWN_BYTES`` of it, decoded as UTF-8 (bad bytes replaced) and put in a ``<pre>`` by an
autoescaping template: nothing an artifact holds is ever rendered as HTML. The page is
``text/html`` made by us, with ``nosniff`` and the site's Content-Security-Policy; the file
itself is only ever sent as an attachment (``RunAdmin.artifact_view``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.http import Http404

from orchestrator import artifacts
from orchestrator.errors import ArtifactNameError
from orchestrator.models import RunArtifact

TEXT_SUFFIXES = (".md", ".json", ".txt", ".log", ".csv")
#: What the page shows of a larger file (the rest is in the download).
MAX_SHOWN_BYTES = 256 * 1024


def is_text(name: str) -> bool:
    return name.lower().endswith(TEXT_SUFFIXES)


@dataclass(frozen=True, kw_only=True)
class ShownText:
    text: str
    shown_bytes: int
    size_bytes: int

    @property
    def truncated(self) -> bool:
        return self.shown_bytes < self.size_bytes


def read_text(artifact: RunArtifact) -> ShownText:
    """The first ``MAX_SHOWN_BYTES`` of a text artifact as text; ``Http404`` for anything else."""
    if not is_text(artifact.name):
        raise Http404(f"artifact {artifact.name!r} is not a text file ({', '.join(TEXT_SUFFIXES)}); download it")
    try:
        target = artifacts.resolve(artifact.run_id, artifact.name)
    except ArtifactNameError as exc:
        raise Http404(str(exc)) from exc
    if not target.is_file():
        raise Http404(f"artifact {artifact.name!r} is recorded but its file is gone (pruned or moved)")
    size = target.stat().st_size
    with target.open("rb") as handle:
        data = handle.read(MAX_SHOWN_BYTES)
    text = data.decode("utf-8", errors="replace")
    if artifact.name.lower().endswith(".json") and len(data) == size:
        text = _pretty(text)
    return ShownText(text=text, shown_bytes=len(data), size_bytes=size)


def _pretty(text: str) -> str:
    try:
        value: Any = json.loads(text)
    except ValueError:
        return text
    return json.dumps(value, indent=2, ensure_ascii=False)
