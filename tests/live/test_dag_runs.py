"""DAG runs end to end: real Celery worker (and beat) processes, PostgreSQL, Redis, files on disk."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import yaml
from django.conf import settings

from orchestrator import events
from orchestrator.jobs.dag import FROZEN_KEY
from orchestrator.models import ACTIVE_STATUSES, Job, LLMCall, Run, RunArtifact
from orchestrator.registry import job
from scheduling.models import Schedule
from scheduling.surfaces.actions import run_now
from tests import factories
from tests.helpers import dag_env, wait_finished, wait_ready, write_dag
from tests.processes import wait_until

EXAMPLE = "configs/dags/weekly_ops_chain.min.yaml"


@job("only_in_the_test_process", description="Registered here but not in the workers: a job that went away.")
def only_in_the_test_process(ctx):
    return {}


def dag_schedule(path: str, **fields) -> Schedule:
    fields.setdefault("kind", "cron")
    fields.setdefault("cron", "0 3 1 1 *")
    return factories.schedule("dag", params={"dag": path}, **fields)


def step_events(run: Run) -> dict[str, list[dict]]:
    by_step: dict[str, list[dict]] = defaultdict(list)
    for event in events.events_for_run(run.id, settings.EVENTS_PATH):
        if event["event"] in (events.STEP_STARTED, events.STEP_FINISHED):
            by_step[event["step"]].append(event)
    return by_step


def at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def max_overlap(steps: list[dict]) -> int:
    """The most steps running at one instant, from their recorded start and finish times."""
    edges = []
    for step in steps:
        if step["started_at"] and step["finished_at"]:
            edges += [(at(step["started_at"]), 1), (at(step["finished_at"]), -1)]
    running = peak = 0
    for _, change in sorted(edges, key=lambda edge: (edge[0], edge[1])):  # a finish before a start at one instant
        running += change
        peak = max(peak, running)
    return peak


def test_steps_run_in_dependency_order_with_parallelism_bounded(live, dags):
    path = write_dag(
        dags,
        "fan.yaml",
        """
        max_parallel: 2
        steps:
          - {id: a1, job: sleep, params: {seconds: 0.5}}
          - {id: a2, job: sleep, params: {seconds: 0.5}}
          - {id: a3, job: sleep, params: {seconds: 0.5}}
          - {id: a4, job: sleep, params: {seconds: 0.5}}
          - {id: join, job: noop, needs: [a1, a2, a3, a4]}
          - {id: tail, job: sleep, params: {seconds: 0.1}, needs: join}
          - {id: last, job: noop, needs: [tail]}
        """,
    )
    wait_ready(live.worker(concurrency=1, env=dag_env(dags)))
    run = wait_finished(run_now(dag_schedule(path)))

    assert run.status == "succeeded", run.error
    steps = {step["id"]: step for step in run.steps}
    assert list(steps) == ["a1", "a2", "a3", "a4", "join", "tail", "last"]
    assert {step["status"] for step in steps.values()} == {"succeeded"}
    assert max_overlap(list(steps.values())) == 2, "independent steps run in parallel, never more than max_parallel"
    for later, earlier in [("join", "a1"), ("join", "a2"), ("join", "a3"), ("join", "a4"), ("tail", "join")]:
        assert at(steps[later]["started_at"]) >= at(steps[earlier]["finished_at"]), (later, earlier)
    assert at(steps["last"]["started_at"]) >= at(steps["tail"]["finished_at"])
    assert all(step["duration_ms"] >= 0 and step["error"] == "" for step in steps.values())
    assert run.result is not None
    assert run.result["succeeded"] == list(steps) and run.result["max_parallel"] == 2

    by_step = step_events(run)
    assert set(by_step) == set(steps)
    for step_id, pair in by_step.items():
        assert [e["event"] for e in pair] == ["step_started", "step_finished"], step_id
        assert all(e["run_id"] == str(run.id) and e["job"] == "dag" for e in pair)
        assert pair[0]["step_job"] == steps[step_id]["job"] and pair[1]["status"] == "succeeded"


def test_a_failed_step_fails_the_run_skips_its_dependents_and_the_others_finish(live, dags):
    path = write_dag(
        dags,
        "broken.yaml",
        """
        steps:
          - {id: a, job: noop}
          - {id: b, job: fail, needs: [a], params: {message: b broke}}
          - {id: c, job: noop, needs: [b]}
          - {id: d, job: noop, needs: [c]}
          - {id: e, job: sleep, params: {seconds: 0.5}}
          - {id: f, job: noop, needs: [a]}
        """,
    )
    wait_ready(live.worker(concurrency=1, env=dag_env(dags)))
    run = wait_finished(run_now(dag_schedule(path)))

    assert run.status == "failed"
    assert "1 of 6 steps" in run.error and "step 'b': JobFailed: b broke" in run.error
    assert "not started: c, d" in run.error and path in run.error
    steps = {step["id"]: step for step in run.steps}
    assert {k: v["status"] for k, v in steps.items()} == {
        "a": "succeeded",
        "b": "failed",
        "c": "skipped",
        "d": "skipped",
        "e": "succeeded",
        "f": "succeeded",
    }
    assert steps["b"]["error"].startswith("JobFailed: b broke")
    assert steps["c"]["error"] == steps["d"]["error"] == "not started: it needs 'b', which failed"
    assert steps["c"]["started_at"] is None and steps["d"]["started_at"] is None

    by_step = step_events(run)
    assert "c" not in by_step and "d" not in by_step, "a skipped step is never started"
    assert by_step["b"][-1]["status"] == "failed" and "b broke" in by_step["b"][-1]["error"]
    run_finished = [e for e in events.events_for_run(run.id, settings.EVENTS_PATH) if e["event"] == "run_finished"]
    assert run_finished[-1]["status"] == "failed"


def test_the_dag_is_frozen_into_the_run_and_validated_again_when_it_starts(live, dags):
    path = write_dag(dags, "chain.yaml", "steps:\n  - {id: first, job: noop}\n")
    v1 = Path(path).read_bytes()
    schedule = dag_schedule(path)
    # No worker yet: the runs wait in the queue while the file changes under them.
    run1 = run_now(schedule)
    write_dag(dags, "chain.yaml", "steps:\n  - {id: second, job: noop}\n  - {id: third, job: noop, needs: second}\n")
    run2 = run_now(schedule)
    write_dag(dags, "chain.yaml", "steps:\n  - {id: x, job: nope}\n")
    run3 = run_now(schedule)  # the file is broken now: the run is created, and fails when it starts
    write_dag(dags, "chain.yaml", "steps:\n  - {id: gone, job: only_in_the_test_process}\n")
    run4 = run_now(schedule)  # frozen here, but the worker has no such job

    frozen1 = Run.objects.get(pk=run1.pk).directive_snapshot["params"][FROZEN_KEY]
    assert frozen1["sha256"] == hashlib.sha256(v1).hexdigest()
    assert [step["id"] for step in frozen1["steps"]] == ["first"]
    snapshot3 = Run.objects.get(pk=run3.pk).directive_snapshot
    assert FROZEN_KEY not in snapshot3["params"] and "step 'x'" in snapshot3["freeze_error"]

    write_dag(dags, "chain.yaml", "steps:\n  - {id: fourth, job: noop}\n")  # a later edit changes none of them
    wait_ready(live.worker(concurrency=1, env=dag_env(dags)))
    done = [wait_finished(run) for run in (run1, run2, run3, run4)]

    assert [step["id"] for step in done[0].steps] == ["first"] and done[0].status == "succeeded"
    assert [step["id"] for step in done[1].steps] == ["second", "third"] and done[1].status == "succeeded"
    assert done[2].status == "failed"
    assert "could not be frozen when the run was created" in done[2].error
    assert f"{path}: step 'x': job: 'nope' is not a registered job" in done[2].error
    assert done[3].status == "failed"
    assert f"{path}: step 'gone': job: 'only_in_the_test_process' is not a registered job" in done[3].error


def test_a_seed_format_yaml_schedule_runs_the_example_dag(live):
    """The seed's schedule format names a DAG file; its entry maps to job ``dag`` with params ``{"dag": path}``.

    (The YAML sync owns that mapping; it is spelled out here so this test stands on its own.)
    """
    entry = yaml.safe_load(
        f"""
        - id: weekly_ops_chain
          cron: "* * * * * *"
          dag: {EXAMPLE}
          tenant: local-dev
          enabled: true
        """
    )[0]
    wait_ready(live.worker(concurrency=1))
    wait_ready(live.beat())
    schedule = Schedule(
        name=entry["id"],
        job=Job.objects.get(key="dag"),
        params={"dag": entry["dag"]},
        kind="cron",
        cron=entry["cron"],
        tenant=entry["tenant"],
        enabled=entry["enabled"],
    )
    schedule.save()
    run = wait_until(
        lambda: (
            Run.objects.filter(occurrence__schedule=schedule)
            .exclude(status__in=ACTIVE_STATUSES)
            .order_by("created_at")
            .first()
        ),
        timeout=60,
        message="the first run of the example DAG",
    )
    Schedule.objects.filter(pk=schedule.pk).set_enabled(False)

    assert run.status == "succeeded", run.error
    assert run.trigger == "schedule"
    assert [(s["id"], s["status"]) for s in run.steps] == [
        ("triage", "succeeded"),
        ("heartbeat", "succeeded"),
        ("report", "succeeded"),
        ("done", "succeeded"),
    ]
    assert run.result["dag"] == "weekly_ops_chain" and run.result["source"] == EXAMPLE

    artifacts = {a.name: a for a in RunArtifact.objects.filter(run=run)}
    assert set(artifacts) == {"triage/triage.json", "triage/triage.md", "report/report.md", "report/report.json"}
    base = Path(settings.ARTIFACTS_DIR)
    for artifact in artifacts.values():
        data = (base / artifact.path).read_bytes()
        assert artifact.path == f"{run.id}/{artifact.name}"
        assert hashlib.sha256(data).hexdigest() == artifact.sha256 and len(data) == artifact.size_bytes
    triage = json.loads((base / artifacts["triage/triage.json"].path).read_text())
    assert triage["by_level"]["ERROR"] == 10 and triage["summary"]["source"] == "heuristic"
    assert not LLMCall.objects.filter(run=run).exists(), "no model configured: the heuristic path makes no call"
    report = (base / artifacts["report/report.md"].path).read_text()
    assert report.startswith("# Weekly operations report")
    assert "| triage | log_triage |" in report and "lines: 60" in report and "summary_source: heuristic" in report
    assert "| heartbeat | noop |" in report
    report_json = json.loads((base / artifacts["report/report.json"].path).read_text())
    assert set(report_json["steps"]) == {"triage", "heartbeat"}

    started = Counter(
        e["step"] for e in events.events_for_run(run.id, settings.EVENTS_PATH) if e["event"] == "step_started"
    )
    assert started == {"triage": 1, "heartbeat": 1, "report": 1, "done": 1}
