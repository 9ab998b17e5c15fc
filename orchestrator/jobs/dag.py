"""The ``dag`` job: run the steps of a DAG file inside one run, in dependency order.

Params: ``{"dag": "configs/dags/<file>.yaml"}`` (relative to the project root, or absolute; the
file must lie inside ``DAG_ROOTS``) and optionally ``max_parallel`` to override the file's.

* When a schedule is saved, the file is loaded and validated (``validate_params``, called from
  ``Schedule.clean``): a bad reference is refused at every door, naming the file, step and field.
* When a run is built, the parsed DAG is frozen into its params (``freeze_params``), so editing
  the file later changes future runs only. The run validates the frozen DAG again when it starts
  (a step's job may have been removed since).
* Steps run on threads of the worker process running the run, at most ``max_parallel`` at once,
  each as soon as every step it needs has succeeded. A failed step fails the run; the steps that
  depend on it are not started and are recorded ``skipped``; independent steps still run.
* Each step calls its registered job with a step context: its own params, artifacts under
  ``<step id>/``, token counts recorded on the run, and ``upstream`` (the results of the steps it
  needs). ``step_started`` / ``step_finished`` events carry the run id and step id, and
  ``Run.steps`` holds every step's status, times and error, updated as the run goes.
"""

from __future__ import annotations

import enum
import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from orchestrator import dag as dags
from orchestrator import events, guards, publishing, registry
from orchestrator.context import RunContext
from orchestrator.errors import SchedulerError, ValidationError
from orchestrator.models import Run
from orchestrator.params import Param, ParamKind
from orchestrator.registry import job

logger = logging.getLogger(__name__)

PARAMS = (
    Param(
        name="dag",
        kind=ParamKind.TEXT,
        required=True,
        description="a DAG file such as configs/dags/weekly_ops_chain.min.yaml (inside DAG_ROOTS)",
    ),
    Param(
        name="max_parallel",
        kind=ParamKind.INTEGER,
        description=f"steps at once, 1 to {dags.MAX_PARALLEL_LIMIT} (default: the file's)",
    ),
)
#: Where the parsed DAG is frozen inside the run's params (set by ``freeze_params``, never by users).
FROZEN_KEY = "frozen_dag"
DAG_SUFFIXES = frozenset({".yaml", ".yml"})
STEP_ERROR_MAX_CHARS = 2000
STEP_RESULT_MAX_BYTES = 16 * 1024


class DagFailed(SchedulerError):
    """One or more steps failed (or the DAG could not run at all)."""

    def __init__(self, message: str, *, failed: list[str] | None = None, skipped: list[str] | None = None) -> None:
        self.failed = failed or []
        self.skipped = skipped or []
        super().__init__(message)


# --- params: validated at every door, frozen when the run is built ---------------------------------


def dag_path(raw: object) -> Path:
    """The DAG file a ``params.dag`` names, checked against ``DAG_ROOTS``; ``ValidationError`` otherwise."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError({"params.dag": "is required: a DAG file such as configs/dags/weekly_ops_chain.min.yaml"})
    try:
        return guards.check_path(
            raw,
            roots=settings.DAG_ROOTS,
            setting="DAG_ROOTS",
            base=Path(settings.BASE_DIR),
            suffixes=DAG_SUFFIXES,
        )
    except guards.PathNotAllowed as exc:
        raise ValidationError({"params.dag": str(exc)}) from exc


def load(raw: object) -> dags.Dag:
    """Read and validate the DAG file ``params.dag`` names, against the jobs registered now."""
    path = dag_path(raw)
    return dags.load(path, source=str(raw), known_jobs=registry.keys(), check_params=registry.validate_params)


def _check_max_parallel(value: object) -> None:
    problem = None if value is None else dags.max_parallel_problem(value)
    if problem is not None:
        raise ValidationError({"params.max_parallel": problem})


def validate_params(params: Mapping[str, Any]) -> None:
    """Every door's check, after the declared params' (``PARAMS``): the file inside ``DAG_ROOTS``, the DAG valid."""
    _check_max_parallel(params.get("max_parallel"))
    load(params.get("dag"))


def freeze_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The params with the parsed DAG added under ``frozen_dag``: the run keeps what the file said then."""
    return {**params, FROZEN_KEY: load(params.get("dag")).to_dict()}


def frozen_dag(ctx: RunContext) -> dags.Dag:
    """The run's frozen DAG, validated again against the jobs registered in this worker."""
    params = ctx.params
    frozen = params.get(FROZEN_KEY)
    source = str(params.get("dag") or "(no params.dag)")
    if not isinstance(frozen, Mapping):
        cause = ctx.snapshot.get("freeze_error") or "the run has no frozen DAG"
        raise DagFailed(f"the DAG {source} could not be frozen when the run was created: {cause}")
    body = {key: value for key, value in frozen.items() if key not in ("source", "sha256")}
    return dags.parse(
        body,
        source=str(frozen.get("source") or source),
        known_jobs=registry.keys(),
        check_params=registry.validate_params,
        sha256=str(frozen.get("sha256") or ""),
    )


# --- execution --------------------------------------------------------------------------------------


class StepStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # not started: a step it needs failed
    CANCELLED = "cancelled"  # the run ended (timed out, cancelled) before the step finished


@dataclass(frozen=True, kw_only=True)
class StepOutcome:
    status: StepStatus
    result: Any = None
    error: str = ""
    duration_ms: int = 0


class StepBook:
    """Every step's record, written to ``Run.steps`` on each change, one writer at a time.

    Steps report from their own threads; a lock orders the writes, so the row always holds the
    latest state of every step. After ``close`` (the run ended, e.g. timed out, while a step
    thread still ran) late reports are ignored.
    """

    def __init__(self, run_id: Any, dag: dags.Dag) -> None:
        self._run_id = run_id
        self._lock = threading.Lock()
        self._closed = False
        self._records: dict[str, dict[str, Any]] = {
            step.id: {
                "id": step.id,
                "job": step.job,
                "needs": list(step.needs),
                "status": StepStatus.PENDING,
                "started_at": None,
                "finished_at": None,
                "duration_ms": None,
                "error": "",
                "result": None,
            }
            for step in dag.steps
        }
        self._save()

    def update(self, step_id: str, **changes: Any) -> None:
        with self._lock:
            if self._closed:
                return
            self._records[step_id].update(changes)
            self._save()

    def close(self, *, unfinished_status: str, reason: str) -> None:
        """Record steps that never finished as ``unfinished_status`` and ignore later reports."""
        with self._lock:
            if self._closed:
                return
            for record in self._records.values():
                if record["status"] in (StepStatus.PENDING, StepStatus.RUNNING):
                    record.update(status=unfinished_status, error=reason)
            self._save()
            self._closed = True

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(record) for record in self._records.values()]

    def _save(self) -> None:
        Run.objects.filter(id=self._run_id).update(steps=[dict(record) for record in self._records.values()])


def _json_result(value: Any) -> Any:
    if value is None:
        return None
    text = json.dumps(value, default=str)
    if len(text) > STEP_RESULT_MAX_BYTES:
        return {"truncated": True, "bytes": len(text)}
    return json.loads(text)


class DagRun:
    """Executes one frozen DAG for one run: the coordinator on the calling thread, steps on a pool."""

    def __init__(self, ctx: RunContext, dag: dags.Dag, *, max_parallel: int) -> None:
        self.ctx = ctx
        self.dag = dag
        self.max_parallel = max_parallel
        self.book = StepBook(ctx.run_id, dag)
        self.base_event = publishing.run_event_fields(
            Run(id=ctx.run_id, trigger=ctx.trigger, directive_snapshot=dict(ctx.snapshot))
        )
        self.results: dict[str, dict[str, Any]] = {}

    def run(self) -> dict[str, list[str]]:
        """Run every step that can run; returns the step ids by final status."""
        status: dict[str, str] = {}
        waiting = list(self.dag.steps)
        running: dict[Future[StepOutcome], dags.Step] = {}
        pool = ThreadPoolExecutor(max_workers=self.max_parallel, thread_name_prefix=f"dag-{self.ctx.run_id}")
        try:
            while waiting or running:
                for step in list(waiting):
                    if len(running) >= self.max_parallel:
                        break
                    if all(status.get(need) == StepStatus.SUCCEEDED for need in step.needs):
                        waiting.remove(step)
                        status[step.id] = StepStatus.RUNNING
                        running[pool.submit(self._run_step, step, self._upstream(step))] = step
                if not running:
                    break  # nothing can start: everything left depends on a failed step (already skipped)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    step = running.pop(future)
                    outcome = future.result()
                    status[step.id] = outcome.status
                    if outcome.status == StepStatus.SUCCEEDED:
                        self.results[step.id] = {
                            "job": step.job,
                            "result": outcome.result,
                            "duration_ms": outcome.duration_ms,
                        }
                        continue
                    for dependent in self.dag.dependents(step.id):
                        if status.get(dependent) is None:
                            status[dependent] = StepStatus.SKIPPED
                            waiting = [s for s in waiting if s.id != dependent]
                            self.book.update(
                                dependent,
                                status=StepStatus.SKIPPED,
                                error=f"not started: it needs {step.id!r}, which failed",
                            )
        except BaseException as exc:  # a time limit or a cancellation: no new step, record the rest
            pool.shutdown(wait=False, cancel_futures=True)
            self.book.close(
                unfinished_status=StepStatus.CANCELLED,
                reason=f"the run ended ({type(exc).__name__}) before this step finished",
            )
            raise
        pool.shutdown(wait=True)
        by_status: dict[str, list[str]] = {StepStatus.SUCCEEDED: [], StepStatus.FAILED: [], StepStatus.SKIPPED: []}
        for step in self.dag.steps:
            by_status.setdefault(status.get(step.id, StepStatus.SKIPPED), []).append(step.id)
        return by_status

    def _upstream(self, step: dags.Step) -> dict[str, Any]:
        return {step_id: self.results[step_id] for step_id in self.dag.ancestors(step.id) if step_id in self.results}

    def _run_step(self, step: dags.Step, upstream: Mapping[str, Any]) -> StepOutcome:
        """One step on a pool thread; never raises (its failure is its outcome)."""
        fields = {**self.base_event, "step": step.id, "step_job": step.job}
        started = timezone.now()
        clock = time.monotonic()
        try:
            self.book.update(step.id, status=StepStatus.RUNNING, started_at=events.utc_stamp(started))
            events.emit([{"event": events.STEP_STARTED, **fields}])
            logger.info("step %s started", step.id, extra={"event": events.STEP_STARTED, **fields})
            outcome = self._call(step, upstream, clock)
            finished = timezone.now()
            self.book.update(
                step.id,
                status=outcome.status,
                finished_at=events.utc_stamp(finished),
                duration_ms=outcome.duration_ms,
                error=outcome.error,
                result=outcome.result,
            )
            finished_event: dict[str, Any] = {
                "event": events.STEP_FINISHED,
                **fields,
                "status": outcome.status,
                "duration_ms": outcome.duration_ms,
            }
            if outcome.error:
                finished_event["error"] = outcome.error.split("\n", 1)[0][:500]
            events.emit([finished_event])
            logger.info(
                "step %s %s",
                step.id,
                outcome.status,
                extra={"event": events.STEP_FINISHED, **fields, "status": outcome.status},
            )
            return outcome
        except Exception as exc:  # recording failed (e.g. the database went away): the step counts as failed
            logger.exception("step %s could not be recorded", step.id, extra=fields)
            return StepOutcome(status=StepStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:STEP_ERROR_MAX_CHARS])
        finally:
            connection.close()  # this thread's own database connection

    def _call(self, step: dags.Step, upstream: Mapping[str, Any], clock: float) -> StepOutcome:
        ctx = self.ctx
        snapshot = {
            **ctx.snapshot,
            "params": dict(step.params),
            "step": {"id": step.id, "job": step.job, "dag": self.dag.source},
        }
        step_ctx = RunContext(
            run_id=ctx.run_id,
            job_key=step.job,
            attempt=ctx.attempt,
            trigger=ctx.trigger,
            snapshot=snapshot,
            logger=logging.getLogger(f"jobs.{step.job}"),
            step_id=step.id,
            upstream=dict(upstream),
        )
        try:
            result = _json_result(registry.get(step.job).func(step_ctx))
        except Exception as exc:
            logger.warning(
                "step %s failed: %s",
                step.id,
                type(exc).__name__,
                exc_info=True,
                extra={"event": events.STEP_FINISHED, "run_id": str(ctx.run_id), "status": StepStatus.FAILED},
            )
            return StepOutcome(
                status=StepStatus.FAILED,
                error=f"{type(exc).__name__}: {exc}"[:STEP_ERROR_MAX_CHARS],
                duration_ms=int((time.monotonic() - clock) * 1000),
            )
        return StepOutcome(
            status=StepStatus.SUCCEEDED, result=result, duration_ms=int((time.monotonic() - clock) * 1000)
        )


@job(
    "dag",
    timeout_seconds=3600,
    description="Runs the steps of a DAG file (params.dag) in dependency order, in parallel up to max_parallel.",
    params=PARAMS,
    validate_params=validate_params,
    freeze_params=freeze_params,
)
def run_dag(ctx: RunContext) -> Mapping[str, Any]:
    dag = frozen_dag(ctx)
    override = ctx.params.get("max_parallel")
    _check_max_parallel(override)
    max_parallel = int(override) if override else dag.max_parallel
    dag_run = DagRun(ctx, dag, max_parallel=max_parallel)
    by_status = dag_run.run()
    summary = {
        "dag": dag.name,
        "source": dag.source,
        "sha256": dag.sha256,
        "max_parallel": max_parallel,
        **by_status,
    }
    failed, skipped = by_status[StepStatus.FAILED], by_status[StepStatus.SKIPPED]
    if failed:
        errors = {record["id"]: record["error"] for record in dag_run.book.records()}
        failures = "; ".join(f"step {step_id!r}: {errors.get(step_id) or 'failed'}" for step_id in failed)
        not_started = f" (not started: {', '.join(skipped)})" if skipped else ""
        raise DagFailed(
            f"{len(failed)} of {len(dag.steps)} steps of {dag.source} failed{not_started}: {failures}",
            failed=failed,
            skipped=skipped,
        )
    return summary
