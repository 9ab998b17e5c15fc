"""DAG files: parse, validate and order the steps of a ``dag`` job (pure: no settings, no database).

A DAG file is YAML::

    name: weekly_ops_chain          # optional, defaults to the file name
    description: ...                # optional
    max_parallel: 3                 # optional: steps running at once (1-32, default 3)
    steps:
      - id: triage                  # letters, digits, '_' or '-'; unique in the file
        job: log_triage             # a registered job (not ``dag``: DAGs do not nest)
        params: {path: var/app.log} # optional: the step job's params
      - id: report
        job: report
        needs: [triage]             # optional: steps that must succeed first (a string for one)

Everything wrong with a file is reported at once, each problem naming the file, the step and the
field (``configs/dags/x.yaml: step 'b': needs: ...``); a cycle is spelled out (``a → b → a``).
``Dag.to_dict`` is the frozen form stored in a run's snapshot; ``parse`` reads it back the same
way it reads a file, so a frozen DAG is validated again when its run starts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.dag_order import find_cycle, topological_order
from orchestrator.errors import ValidationError

DEFAULT_MAX_PARALLEL = 3
MAX_PARALLEL_LIMIT = 32
MAX_STEPS = 200
MAX_FILE_BYTES = 1024 * 1024
STEP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: Jobs that cannot be steps: a nested DAG would run its own threads inside a step's thread.
NOT_A_STEP = frozenset({"dag"})
TOP_LEVEL_KEYS = ("name", "description", "max_parallel", "steps")
STEP_KEYS = ("id", "job", "params", "needs", "description")

#: ``(job key, params)``: raises ``ValidationError`` when the job would refuse the params.
ParamsCheck = Callable[[str, Mapping[str, Any]], None]


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with a DAG file: the step (None for the file as a whole), the field, what is wrong."""

    step: str | None
    field: str
    message: str

    def render(self, source: str) -> str:
        where = f"{source}: step {self.step!r}" if self.step is not None else source
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class DagError(ValidationError):
    """A DAG file that cannot run; ``problems`` lists everything found, keyed in ``errors`` by ``params.dag``."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__({"params.dag": [problem.render(source) for problem in self.problems]})

    def __str__(self) -> str:
        return "; ".join(self.errors["params.dag"])


@dataclass(frozen=True, kw_only=True)
class Step:
    id: str
    job: str
    params: Mapping[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class Dag:
    """A validated DAG; ``steps`` are in a dependency order (file order among independent steps)."""

    source: str
    name: str
    description: str
    max_parallel: int
    steps: tuple[Step, ...]
    sha256: str = ""

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def dependents(self, step_id: str) -> list[str]:
        """Every step that needs ``step_id``, directly or through others, in dependency order."""
        found: set[str] = {step_id}
        for step in self.steps:
            if any(need in found for need in step.needs):
                found.add(step.id)
        return [step.id for step in self.steps if step.id in found and step.id != step_id]

    def ancestors(self, step_id: str) -> list[str]:
        """Every step ``step_id`` needs, directly or through others, in dependency order."""
        wanted: set[str] = set(self.step(step_id).needs)
        for step in reversed(self.steps):
            if step.id in wanted:
                wanted.update(step.needs)
        return [step.id for step in self.steps if step.id in wanted]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form frozen into a run (``parse`` reads it back)."""
        return {
            "source": self.source,
            "sha256": self.sha256,
            "name": self.name,
            "description": self.description,
            "max_parallel": self.max_parallel,
            "steps": [
                {
                    "id": step.id,
                    "job": step.job,
                    "params": dict(step.params),
                    "needs": list(step.needs),
                    **({"description": step.description} if step.description else {}),
                }
                for step in self.steps
            ],
        }


def _file_error(source: str, message: str) -> DagError:
    return DagError(source, [Problem(step=None, field="", message=message)])


def max_parallel_problem(value: object) -> str | None:
    """Why ``value`` cannot be a ``max_parallel`` (a whole number from 1 to 32), or None when it can."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_PARALLEL_LIMIT:
        return None
    return f"must be a whole number from 1 to {MAX_PARALLEL_LIMIT}, not {value!r}"


def _unknown_keys(data: Mapping[Any, Any], allowed: Sequence[str]) -> list[str]:
    return sorted(str(key) for key in data if key not in allowed)


def _parse_step(index: int, raw: object, problems: list[Problem]) -> Step | None:
    if not isinstance(raw, Mapping):
        problems.append(Problem(step=None, field=f"steps[{index}]", message="must be a mapping with id and job"))
        return None
    step_id = raw.get("id")
    if not isinstance(step_id, str) or not STEP_ID.match(step_id):
        problems.append(
            Problem(
                step=None,
                field=f"steps[{index}].id",
                message=f"{step_id!r} is not a step id: 1-64 letters, digits, '_' or '-', starting with a letter"
                " or digit",
            )
        )
        return None
    problems_before = len(problems)
    for key in _unknown_keys(raw, STEP_KEYS):
        problems.append(Problem(step=step_id, field=key, message=f"unknown key; allowed: {', '.join(STEP_KEYS)}"))
    job = raw.get("job")
    if not isinstance(job, str) or not job:
        problems.append(Problem(step=step_id, field="job", message="is required: the registered job to run"))
        job = ""
    params = raw.get("params")
    if params is None:
        params = {}
    elif not isinstance(params, Mapping):
        problems.append(Problem(step=step_id, field="params", message="must be a mapping"))
        params = {}
    needs_raw = raw.get("needs")
    needs: list[str] = []
    if isinstance(needs_raw, str):
        needs = [needs_raw]
    elif isinstance(needs_raw, list) and all(isinstance(item, str) for item in needs_raw):
        needs = list(dict.fromkeys(needs_raw))
    elif needs_raw is not None:
        problems.append(Problem(step=step_id, field="needs", message="must be a step id or a list of step ids"))
    description = raw.get("description") or ""
    if not isinstance(description, str):
        problems.append(Problem(step=step_id, field="description", message="must be a string"))
    if len(problems) > problems_before:
        return None
    return Step(id=step_id, job=job, params=dict(params), needs=tuple(needs), description=str(description))


def parse(
    data: object,
    *,
    source: str,
    known_jobs: Collection[str],
    check_params: ParamsCheck | None = None,
    sha256: str = "",
) -> Dag:
    """Validate a loaded DAG (a file's YAML or a frozen ``to_dict``) and return it in dependency order.

    ``known_jobs`` are the registered job keys; ``check_params`` lets each step's job check its
    params. Raises ``DagError`` listing every problem found.
    """
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        raise _file_error(source, "must be a mapping with a steps list")
    for key in _unknown_keys(data, TOP_LEVEL_KEYS):
        problems.append(Problem(step=None, field=key, message=f"unknown key; allowed: {', '.join(TOP_LEVEL_KEYS)}"))
    name = data.get("name") or Path(source).stem.removesuffix(".min")
    if not isinstance(name, str):
        problems.append(Problem(step=None, field="name", message="must be a string"))
        name = Path(source).stem
    description = data.get("description") or ""
    if not isinstance(description, str):
        problems.append(Problem(step=None, field="description", message="must be a string"))
        description = ""
    max_parallel = data.get("max_parallel", DEFAULT_MAX_PARALLEL)
    problem = max_parallel_problem(max_parallel)
    if problem is not None:
        problems.append(Problem(step=None, field="max_parallel", message=problem))
        max_parallel = DEFAULT_MAX_PARALLEL

    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.append(Problem(step=None, field="steps", message="must be a non-empty list of steps"))
        raise DagError(source, problems)
    if len(raw_steps) > MAX_STEPS:
        problems.append(Problem(step=None, field="steps", message=f"has {len(raw_steps)} steps; at most {MAX_STEPS}"))
        raise DagError(source, problems)

    steps: list[Step] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_steps):
        step = _parse_step(index, raw, problems)
        if step is None:
            continue
        if step.id in seen:
            problems.append(
                Problem(step=step.id, field="id", message="is used by more than one step; ids must be unique")
            )
            continue
        seen.add(step.id)
        steps.append(step)

    for step in steps:
        if step.job in NOT_A_STEP:
            problems.append(
                Problem(
                    step=step.id,
                    field="job",
                    message=f"{step.job!r} cannot be a step: DAGs do not nest; list its steps in this file instead",
                )
            )
        elif step.job not in known_jobs:
            problems.append(
                Problem(
                    step=step.id,
                    field="job",
                    message=f"{step.job!r} is not a registered job; registered: {', '.join(sorted(known_jobs))}",
                )
            )
        elif check_params is not None:
            try:
                check_params(step.job, step.params)
            except ValidationError as exc:
                for key, messages in exc.errors.items():
                    problems.extend(Problem(step=step.id, field=key, message=message) for message in messages)
        for need in step.needs:
            if need == step.id:
                problems.append(
                    Problem(
                        step=step.id, field="needs", message=f"cycle {step.id} → {step.id} (a step cannot need itself)"
                    )
                )
            elif need not in seen:
                problems.append(
                    Problem(
                        step=step.id,
                        field="needs",
                        message=f"{need!r} is not a step of this DAG; steps: {', '.join(s.id for s in steps)}",
                    )
                )
    if problems:
        raise DagError(source, problems)

    cycle = find_cycle({step.id: step.needs for step in steps})
    if cycle is not None:
        message = "cycle " + " → ".join(cycle) + " (each step needs the next)"
        raise DagError(source, [Problem(step=cycle[0], field="needs", message=message)])
    return Dag(
        source=source,
        name=name,
        description=description,
        max_parallel=int(max_parallel),
        steps=tuple(topological_order(steps)),
        sha256=sha256,
    )


def loads(
    text: str | bytes,
    *,
    source: str,
    known_jobs: Collection[str],
    check_params: ParamsCheck | None = None,
) -> Dag:
    """Parse YAML text (``yaml.safe_load``: no tags, no code) and validate it."""
    payload = text.encode("utf-8") if isinstance(text, str) else text
    try:
        data = yaml.safe_load(payload)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        # The problem only, never yaml's snippet of the file: errors travel to API clients and logs.
        raise DagError(source, [Problem(step=None, field=where, message=f"invalid YAML: {exc.problem}")]) from exc
    except yaml.YAMLError as exc:
        raise _file_error(source, "invalid YAML") from exc
    return parse(
        data,
        source=source,
        known_jobs=known_jobs,
        check_params=check_params,
        sha256=hashlib.sha256(payload).hexdigest(),
    )


def load(
    path: Path,
    *,
    source: str,
    known_jobs: Collection[str],
    check_params: ParamsCheck | None = None,
) -> Dag:
    """Read and validate the DAG file at ``path``; ``source`` is how errors and the frozen DAG name it."""
    try:
        with open(path, "rb") as handle:
            payload = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError as exc:
        raise _file_error(source, "does not exist") from exc
    except IsADirectoryError as exc:
        raise _file_error(source, "is a folder, not a file") from exc
    except OSError as exc:
        raise _file_error(source, f"cannot be read ({exc.strerror})") from exc
    if len(payload) > MAX_FILE_BYTES:
        raise _file_error(source, f"is larger than {MAX_FILE_BYTES} bytes")
    return loads(payload, source=source, known_jobs=known_jobs, check_params=check_params)


def describe(dag: Dag) -> Iterable[str]:
    """Lines describing the DAG's order, for command output and docs."""
    yield f"{dag.name} ({dag.source}), max_parallel {dag.max_parallel}:"
    for step in dag.steps:
        needs = f" after {', '.join(step.needs)}" if step.needs else ""
        yield f"  {step.id}: {step.job}{needs}"
