"""Text artifacts shown in place: escaped in a <pre>, size-capped, never outside the run's folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import LazySettings
from django.test import Client
from django.urls import reverse

from orchestrator import artifact_view, artifacts
from orchestrator.models import Run, RunArtifact
from tests import factories
from tests.records import run_for, staff_user


@pytest.fixture(autouse=True)
def artifact_dir(settings: LazySettings, tmp_path: Path) -> Path:
    settings.EVENTS_PATH = tmp_path / "events.jsonl"
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    return Path(settings.ARTIFACTS_DIR)


def artifact(run: Run, name: str, data: str | bytes) -> RunArtifact:
    written = artifacts.write(run.id, name, data)
    return RunArtifact.objects.create(
        run=run,
        name=written.name,
        path=written.relative_path,
        size_bytes=written.size_bytes,
        sha256=written.sha256,
        content_type=written.content_type,
    )


def view_url(found: RunArtifact) -> str:
    return reverse("admin:orchestrator_run_artifact_text", args=[found.run_id, found.pk])


@pytest.mark.django_db
def test_html_in_an_artifact_is_shown_as_text_never_rendered(admin_client: Client) -> None:
    run = run_for(factories.schedule("noop"))
    found = artifact(run, "notes.md", '# Notes\n<script>alert("x")</script><img src=x onerror=alert(1)>\n')
    response = admin_client.get(view_url(found))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")  # our page, not the file's bytes
    assert response["X-Content-Type-Options"] == "nosniff"
    body = response.content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in body
    assert "<script>alert" not in body and "<img src=x" not in body
    run_page = admin_client.get(reverse("admin:orchestrator_run_change", args=[run.pk])).content.decode()
    assert f'href="{view_url(found)}"' in run_page


@pytest.mark.django_db
def test_json_is_pretty_and_every_text_suffix_is_viewable_but_not_others(admin_client: Client) -> None:
    run = run_for(factories.schedule("noop"))
    shown = admin_client.get(view_url(artifact(run, "out/result.json", '{"b":1,"a":[1,2]}'))).content.decode()
    assert json.dumps({"b": 1, "a": [1, 2]}, indent=2).replace('"', "&quot;") in shown
    for name in ("a.txt", "b.LOG", "c.csv", "d.md"):
        assert admin_client.get(view_url(artifact(run, name, "x,y\n"))).status_code == 200
    binary = artifact(run, "chart.png", b"\x89PNG\r\n")
    assert admin_client.get(view_url(binary)).status_code == 404
    page = admin_client.get(reverse("admin:orchestrator_run_change", args=[run.pk])).content.decode()
    assert f'href="{view_url(binary)}"' not in page  # binaries keep their download link only


@pytest.mark.django_db
def test_a_large_artifact_is_capped(admin_client: Client) -> None:
    run = run_for(factories.schedule("noop"))
    big = artifact(run, "huge.log", "a" * (artifact_view.MAX_SHOWN_BYTES + 5000))
    body = admin_client.get(view_url(big)).content.decode()
    assert 'data-truncated="true"' in body
    assert "a" * artifact_view.MAX_SHOWN_BYTES in body and "a" * (artifact_view.MAX_SHOWN_BYTES + 1) not in body


@pytest.mark.django_db
def test_unsafe_names_missing_files_other_runs_and_outsiders_get_nothing(
    admin_client: Client, client: Client, artifact_dir: Path
) -> None:
    run = run_for(factories.schedule("noop"))
    (artifact_dir / "secret.txt").parent.mkdir(parents=True, exist_ok=True)
    (artifact_dir / "secret.txt").write_text("top secret")
    escaping = RunArtifact.objects.create(run=run, name="../secret.txt", path="x", size_bytes=1, sha256="0" * 64)
    gone = RunArtifact.objects.create(run=run, name="gone.txt", path="x", size_bytes=1, sha256="0" * 64)
    for found in (escaping, gone):
        response = admin_client.get(view_url(found))
        assert response.status_code == 404 and b"top secret" not in response.content
    mine = artifact(run, "ok.txt", "fine")
    other_run = run_for(factories.schedule("noop", name="other"))
    elsewhere = reverse("admin:orchestrator_run_artifact_text", args=[other_run.pk, mine.pk])
    assert admin_client.get(elsewhere).status_code == 404
    assert client.get(view_url(mine)).status_code == 302  # anonymous: to the login
    client.force_login(staff_user("no-run-perms"))
    assert client.get(view_url(mine)).status_code == 403
