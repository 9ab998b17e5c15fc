"""DAG files: parsing, every validation error naming file, step and field, and the order of steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import dag, dag_order
from orchestrator.errors import ValidationError

JOBS = {"noop", "sleep", "fail", "log_triage", "report", "dag"}
SOURCE = "configs/dags/x.yaml"


def load(text: str, **kwargs) -> dag.Dag:
    return dag.loads(text, source=SOURCE, known_jobs=kwargs.pop("known_jobs", JOBS), **kwargs)


def problems(text: str, **kwargs) -> list[str]:
    with pytest.raises(dag.DagError) as caught:
        load(text, **kwargs)
    error = caught.value
    assert isinstance(error, ValidationError)
    assert list(error.errors) == ["params.dag"]
    assert all(message.startswith(SOURCE + ": ") for message in error.errors["params.dag"])
    return error.errors["params.dag"]


def test_steps_come_in_dependency_order_file_order_breaking_ties():
    parsed = load(
        """
        name: chain
        max_parallel: 2
        steps:
          - {id: report, job: noop, needs: [b, a]}
          - {id: a, job: noop}
          - {id: b, job: noop, needs: a}
          - {id: c, job: noop}
        """.replace("\n        ", "\n")
    )
    assert [step.id for step in parsed.steps] == ["a", "c", "b", "report"]
    assert parsed.max_parallel == 2 and parsed.name == "chain"
    assert parsed.step("b").needs == ("a",)
    assert parsed.ancestors("report") == ["a", "b"]
    assert parsed.dependents("a") == ["b", "report"]
    assert len(parsed.sha256) == 64


def test_defaults_and_name_from_the_file():
    parsed = dag.loads("steps: [{id: only, job: noop}]", source="configs/dags/weekly.min.yaml", known_jobs=JOBS)
    assert parsed.max_parallel == dag.DEFAULT_MAX_PARALLEL == 3
    assert parsed.name == "weekly"
    assert parsed.steps[0].params == {} and parsed.steps[0].needs == ()


def test_frozen_form_reads_back_to_the_same_dag():
    parsed = load("steps:\n - {id: a, job: noop, params: {x: 1}}\n - {id: b, job: sleep, needs: [a]}\n")
    frozen = parsed.to_dict()
    body = {key: value for key, value in frozen.items() if key not in ("source", "sha256")}
    again = dag.parse(body, source=frozen["source"], known_jobs=JOBS, sha256=frozen["sha256"])
    assert again == parsed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "steps:\n - {id: a, job: noop, needs: b}\n - {id: b, job: noop, needs: a}\n",
            "step 'a': needs: cycle a → b → a",
        ),
        (
            "steps:\n - {id: a, job: noop, needs: c}\n - {id: b, job: noop, needs: a}\n"
            " - {id: c, job: noop, needs: b}\n",
            "step 'a': needs: cycle a → c → b → a",
        ),
        ("steps:\n - {id: a, job: noop, needs: a}\n", "step 'a': needs: cycle a → a"),
        ("steps:\n - {id: a, job: nope}\n", "step 'a': job: 'nope' is not a registered job; registered: dag, fail"),
        ("steps:\n - {id: a, job: noop, needs: [ghost]}\n", "step 'a': needs: 'ghost' is not a step of this DAG"),
        ("steps:\n - {id: a, job: noop}\n - {id: a, job: sleep}\n", "step 'a': id: is used by more than one step"),
        ("steps:\n - {id: a, job: dag}\n", "step 'a': job: 'dag' cannot be a step: DAGs do not nest"),
        ("steps:\n - {id: a}\n", "step 'a': job: is required"),
        ("steps:\n - {id: 'no spaces', job: noop}\n", "steps[0].id: 'no spaces' is not a step id"),
        ("steps:\n - {job: noop}\n", "steps[0].id: None is not a step id"),
        ("steps:\n - {id: a, job: noop, params: [1]}\n", "step 'a': params: must be a mapping"),
        ("steps:\n - {id: a, job: noop, needs: {b: 1}}\n", "step 'a': needs: must be a step id or a list"),
        ("steps:\n - {id: a, job: noop, retry: 2}\n", "step 'a': retry: unknown key"),
        ("steps:\n - just-a-string\n", "steps[0]: must be a mapping"),
        ("max_parallel: 0\nsteps: [{id: a, job: noop}]\n", "max_parallel: must be a whole number from 1 to 32, not 0"),
        ("max_parallel: 'x'\nsteps: [{id: a, job: noop}]\n", "max_parallel: must be a whole number from 1 to 32"),
        ("max_paralel: 2\nsteps: [{id: a, job: noop}]\n", "max_paralel: unknown key; allowed: name"),
        ("steps: []\n", "steps: must be a non-empty list"),
        ("name: x\n", "steps: must be a non-empty list"),
        ("- {id: a, job: noop}\n", "must be a mapping with a steps list"),
        ("", "must be a mapping with a steps list"),
    ],
)
def test_each_problem_names_the_file_step_and_field(text, expected):
    found = problems(text)
    assert any(expected in message for message in found), found


def test_every_problem_is_reported_at_once():
    found = problems("steps:\n - {id: a, job: nope}\n - {id: b, job: noop, needs: [zz]}\n - {id: a, job: noop}\n")
    assert len(found) == 3
    assert str(dag.DagError(SOURCE, [])) == ""


def test_too_many_steps():
    text = "steps:\n" + "".join(f" - {{id: s{i}, job: noop}}\n" for i in range(dag.MAX_STEPS + 1))
    assert any("at most 200" in message for message in problems(text))


def test_invalid_yaml_names_the_position_but_never_quotes_the_file():
    found = problems("steps:\n - {id: a, job: noop\n secret-looking-token: here\n")
    assert len(found) == 1
    assert "line " in found[0] and "invalid YAML" in found[0]
    assert "secret-looking-token" not in found[0]


def test_python_tags_are_refused_not_executed(tmp_path: Path):
    marker = tmp_path / "pwned"
    found = problems(f"steps: !!python/object/apply:os.system ['touch {marker}']\n")
    assert "invalid YAML" in found[0]
    assert not marker.exists()


def test_step_params_are_checked_by_the_step_job():
    def check(job: str, params):
        if job == "sleep" and "seconds" not in params:
            raise ValidationError({"params.seconds": "is required"})

    found = problems("steps:\n - {id: nap, job: sleep}\n", check_params=check)
    assert found == [f"{SOURCE}: step 'nap': params.seconds: is required"]


def test_load_reports_missing_folder_and_oversized_files(tmp_path: Path):
    with pytest.raises(dag.DagError, match="does not exist"):
        dag.load(tmp_path / "missing.yaml", source="missing.yaml", known_jobs=JOBS)
    with pytest.raises(dag.DagError, match="is a folder"):
        dag.load(tmp_path, source="folder.yaml", known_jobs=JOBS)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (dag.MAX_FILE_BYTES + 1))
    with pytest.raises(dag.DagError, match="larger than"):
        dag.load(big, source="big.yaml", known_jobs=JOBS)


def test_find_cycle_and_topological_order_directly():
    assert dag_order.find_cycle({"a": ["b"], "b": []}) is None
    assert dag_order.find_cycle({"a": ["b"], "b": ["c"], "c": ["b"]}) == ["b", "c", "b"]
    steps = [dag.Step(id="x", job="noop", needs=("y",)), dag.Step(id="y", job="noop", needs=("x",))]
    with pytest.raises(ValueError, match="cycle"):
        dag_order.topological_order(steps)
    a, b, c = (dag.Step(id=i, job="noop", needs=n) for i, n in (("a", ("c",)), ("b", ()), ("c", ("b",))))
    assert [step.id for step in dag_order.topological_order([a, b, c])] == ["b", "c", "a"]
