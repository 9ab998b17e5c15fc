"""Language-model calls inside real runs: token counts recorded, text stored nowhere, the guard in force."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

from orchestrator import registry
from orchestrator.models import LLMCall, RunArtifact
from scheduling.surfaces.actions import run_now
from tests import (
    factories,
    llm_probe_jobs,  # noqa: F401  (registers llm_probe in this process too)
    llm_stub,
)
from tests.helpers import wait_finished, wait_ready
from tests.llm_stub import Reply

LOG = (
    "2026-11-23 10:00:00 INFO started\n"
    "2026-11-23 10:00:01 ERROR timeout after 31s talking to payments at 10.0.0.7\n"
    "2026-11-23 10:00:02 ERROR timeout after 30s talking to payments at 10.0.0.9\n"
    "2026-11-23 10:00:03 ERROR disk full on /var/lib/postgresql\n"
)


def dump_database() -> str:
    """Every row of every table of the test database, as text."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        tables = cursor.fetchall()
        assert len(tables) > 10, tables
        rows: list[str] = []
        for schema, table in tables:
            cursor.execute(f'SELECT t::text FROM "{schema}"."{table}" AS t')
            rows += [row[0] for row in cursor.fetchall()]
    return "\n".join(rows)


def folder_text(folder: Path) -> str:
    return "\n".join(path.read_bytes().decode("utf-8", "replace") for path in folder.rglob("*") if path.is_file())


def test_token_counts_are_recorded_and_no_text_is_stored_anywhere(live, tmp_path: Path, caplog):
    caplog.set_level(logging.DEBUG)
    registry.sync_job_rows()
    prompt_canary = f"CANARY-PROMPT-{uuid.uuid4().hex}"
    response_canary = f"CANARY-RESPONSE-{uuid.uuid4().hex}"
    prompt_file = tmp_path / "inputs" / "prompt.txt"
    prompt_file.parent.mkdir()
    prompt_file.write_text(f"Summarise this: {prompt_canary}")
    answer = f"Here you go: {response_canary}"

    with llm_stub.running(
        Reply(content=answer, model="stub-llama-3", prompt_tokens=1234, completion_tokens=56)
    ) as stub:
        worker = live.worker(
            concurrency=1,
            env={
                "SCHEDULER_JOB_MODULES": "tests.llm_probe_jobs",
                "LLM_BASE_URL": stub.base_url,
                "LOG_LEVEL": "DEBUG",
            },
            extra=["-l", "debug"],  # Celery sets the root level from -l: every record of every logger is kept
        )
        wait_ready(worker)
        schedule = factories.schedule(
            "llm_probe", kind="cron", cron="0 3 1 1 *", params={"prompt_file": str(prompt_file)}
        )
        run = wait_finished(run_now(schedule))

    assert run.status == "succeeded", run.error
    assert len(stub.requests) == 1 and prompt_canary in stub.requests[0]["raw"], "the prompt reached the model"
    assert run.result == {"response_sha256": hashlib.sha256(answer.encode()).hexdigest()}, "the answer reached the job"
    [call] = LLMCall.objects.filter(run=run)
    assert (call.model, call.prompt_tokens, call.completion_tokens) == ("stub-llama-3", 1234, 56)
    assert LLMCall.objects.filter(run__occurrence__schedule=schedule).totals() == {
        "calls": 1,
        "prompt_tokens": 1234,
        "completion_tokens": 56,
        "total_tokens": 1290,
    }
    assert "llm_call" in worker.output(), "the worker logged the call (counts only)"

    places = {
        "database": dump_database(),
        "event log": Path(settings.EVENTS_PATH).read_text(),
        "worker log": "\n".join(proc.output() for proc in live.started),
        "test process log": caplog.text,
        "artifacts": folder_text(Path(settings.ARTIFACTS_DIR)) if Path(settings.ARTIFACTS_DIR).exists() else "",
    }
    assert str(run.id) in places["database"] and str(run.id) in places["event log"], "the dumps are the real ones"
    for where, text in places.items():
        for canary in (prompt_canary, response_canary):
            assert canary not in text, f"{canary[:15]} found in the {where}"


def test_log_triage_summarises_with_the_model_and_falls_back_to_its_heuristic(live, tmp_path: Path):
    log = tmp_path / "app.log"
    log.write_text(LOG)
    summary = "Payments timeouts dominate; check the payments service first."
    with llm_stub.running(
        Reply(content=summary, model="stub-llama-3", prompt_tokens=321, completion_tokens=54)
    ) as stub:
        wait_ready(
            live.worker(concurrency=1, env={"LLM_BASE_URL": stub.base_url, "LLM_MAX_RETRIES": "1"}),
        )
        schedule = factories.schedule("log_triage", kind="cron", cron="0 3 1 1 *", params={"path": str(log)})
        with_model = wait_finished(run_now(schedule))
        stub.script(Reply(status=503))
        without_model = wait_finished(run_now(schedule))

    assert with_model.status == "succeeded", with_model.error
    assert with_model.result is not None
    assert with_model.result["summary_source"] == "model"
    [call] = LLMCall.objects.filter(run=with_model)
    assert (call.model, call.prompt_tokens, call.completion_tokens) == ("stub-llama-3", 321, 54)
    prompt = stub.requests[0]["body"]["messages"][-1]["content"]
    assert "2x timeout after <n>s talking to payments at <n>" in prompt and "disk full" in prompt
    files = {a.name: Path(settings.ARTIFACTS_DIR) / a.path for a in RunArtifact.objects.filter(run=with_model)}
    markdown = files["triage.md"].read_text()
    assert summary in markdown and "by the model `stub-llama-3`" in markdown, "the job writes the summary on purpose"
    assert json.loads(files["triage.json"].read_text())["summary"] == {
        "source": "model",
        "model": "stub-llama-3",
        "text": summary,
    }

    assert without_model.status == "succeeded", without_model.error
    assert without_model.result is not None
    assert without_model.result["summary_source"] == "heuristic"
    assert "2 attempt(s)" in without_model.result["llm_error"] and "HTTP 503" in without_model.result["llm_error"]
    assert len(stub.requests) == 3, "one call for the first run, two bounded attempts for the second"
    assert not LLMCall.objects.filter(run=without_model).exists(), "a failed call records nothing"
    files = {a.name: Path(settings.ARTIFACTS_DIR) / a.path for a in RunArtifact.objects.filter(run=without_model)}
    assert "heuristic, no model used" in files["triage.md"].read_text()
    assert LLMCall.objects.filter(run__occurrence__schedule=schedule).totals()["total_tokens"] == 375


def test_a_run_refuses_a_model_outside_loopback(live, tmp_path: Path):
    log = tmp_path / "app.log"
    log.write_text(LOG)
    wait_ready(live.worker(concurrency=1, env={"LLM_BASE_URL": "http://203.0.113.7:8080/v1"}))
    run = wait_finished(
        run_now(factories.schedule("log_triage", kind="cron", cron="0 3 1 1 *", params={"path": str(log)}))
    )
    assert run.status == "failed"
    assert "HostNotAllowed: refusing to connect to '203.0.113.7'" in run.error and "LLM_ALLOWED_HOSTS" in run.error
    assert not LLMCall.objects.filter(run=run).exists()
