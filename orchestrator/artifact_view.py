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

from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from orchestrator import artifacts
from orchestrator.errors import ArtifactNameError
from orchestrator.models import Run, RunArtifact

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


def text_view(model_admin: ModelAdmin[Run], request: HttpRequest, run_id: Any, artifact_id: int) -> HttpResponse:
    """The run admin's page of one text artifact (staff with the run's view permission)."""
    artifact = get_object_or_404(RunArtifact.objects.select_related("run"), pk=artifact_id, run_id=run_id)
    if not model_admin.has_view_permission(request, artifact.run):
        raise PermissionDenied
    shown = read_text(artifact)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Run._meta,
        "title": artifact.name,
        "subtitle": str(artifact.run),
        "artifact": artifact,
        "shown": shown,
        "run_url": reverse("admin:orchestrator_run_change", args=[artifact.run_id]),
        "download_url": reverse("admin:orchestrator_run_artifact", args=[artifact.run_id, artifact.pk]),
    }
    response = TemplateResponse(request, "admin/orchestrator/run/artifact_text.html", context)
    response["X-Content-Type-Options"] = "nosniff"
    return response
