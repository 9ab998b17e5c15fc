"""Every door rejects a bad DAG reference: Schedule.clean, the admin's model form, full_clean."""

from __future__ import annotations

import pytest
from django.forms import modelform_factory

from orchestrator.errors import ValidationError
from orchestrator.models import Directive, Job
from scheduling.models import Schedule
from tests import factories
from tests.helpers import write_dag

EXAMPLE = "configs/dags/weekly_ops_chain.min.yaml"


def params_errors(params: dict) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        factories.schedule("dag", kind="cron", cron="0 3 * * *", params=params)
    assert list(caught.value.errors) == ["params"], caught.value.errors
    return caught.value.errors["params"]


def test_the_example_dag_is_accepted(db):
    schedule = factories.schedule("dag", kind="cron", cron="0 3 * * 1", params={"dag": EXAMPLE, "max_parallel": 2})
    assert Schedule.objects.get(pk=schedule.pk).params == {"dag": EXAMPLE, "max_parallel": 2}


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("unknown.yaml", "steps: [{id: a, job: nope}]", "step 'a': job: 'nope' is not a registered job"),
        (
            "cycle.yaml",
            "steps:\n  - {id: a, job: noop, needs: b}\n  - {id: b, job: noop, needs: a}\n",
            "step 'a': needs: cycle a → b → a",
        ),
        ("needs.yaml", "steps: [{id: a, job: noop, needs: [zz]}]", "step 'a': needs: 'zz' is not a step of this DAG"),
        ("dupe.yaml", "steps: [{id: a, job: noop}, {id: a, job: noop}]", "step 'a': id: is used by more than one step"),
        ("nested.yaml", "steps: [{id: inner, job: dag}]", "step 'inner': job: 'dag' cannot be a step"),
        (
            "step-params.yaml",
            "steps: [{id: r, job: report, params: {title: [not, text]}}]",
            "step 'r': params.title: must be text",
        ),
    ],
)
def test_a_bad_dag_file_is_rejected_naming_file_step_and_field(db, dags, name, text, expected):
    path = write_dag(dags, name, text)
    messages = params_errors({"dag": path})
    assert any(message.startswith(f"dag: {path}: ") and expected in message for message in messages), messages


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, "dag: is required: a DAG file such as configs/dags/weekly_ops_chain.min.yaml"),
        ({"dag": "configs/dags/missing.yaml"}, "dag: configs/dags/missing.yaml: does not exist"),
        ({"dag": "/etc/hosts.yaml"}, "dag: /etc/hosts.yaml: is outside the allowed folders"),
        ({"dag": "configs/dags/../../pyproject.toml"}, "must be a .yaml or .yml file"),
        ({"dag": "../secrets.yaml"}, "is outside the allowed folders"),
        ({"dag": EXAMPLE, "max_parallel": 0}, "max_parallel: must be a whole number from 1 to 32"),
        ({"dag": EXAMPLE, "frozen_dag": {}}, "frozen_dag: is not a param of the dag job; its params: dag, max_par"),
    ],
)
def test_a_bad_reference_is_rejected(db, params, expected):
    messages = params_errors(params)
    assert any(expected in message for message in messages), messages


def test_the_directive_and_schedule_params_are_checked_together(db):
    directive = Directive.objects.create(name="weekly", job=Job.objects.get(key="dag"), params={"dag": EXAMPLE})
    schedule = factories.schedule("dag", kind="cron", cron="0 3 * * 1", directive=directive, params={})
    schedule.params = {"dag": "configs/dags/nope.yaml"}
    with pytest.raises(ValidationError, match=r"nope\.yaml: does not exist"):
        schedule.save()


def test_a_file_broken_after_saving_is_caught_on_the_next_edit(db, dags):
    path = write_dag(dags, "later.yaml", "steps: [{id: a, job: noop}]")
    schedule = factories.schedule("dag", kind="cron", cron="0 3 * * 1", params={"dag": path})
    write_dag(dags, "later.yaml", "steps: [{id: a, job: noop, needs: [a]}]")
    schedule.description = "edited"
    with pytest.raises(ValidationError, match="cycle a → a"):
        schedule.save()


def test_the_admin_form_shows_the_error_on_the_params_field(db, dags):
    path = write_dag(dags, "form.yaml", "steps: [{id: a, job: nope}]")
    form_class = modelform_factory(
        Schedule, fields=["name", "job", "params", "kind", "cron", "timezone", "overlap_policy", "misfire_policy"]
    )
    form = form_class(
        data={
            "name": "from-the-admin",
            "job": Job.objects.get(key="dag").pk,
            "params": f'{{"dag": "{path}"}}',
            "kind": "cron",
            "cron": "0 3 * * *",
            "timezone": "UTC",
            "overlap_policy": "skip",
            "misfire_policy": "run_once",
        }
    )
    assert not form.is_valid()
    assert any(f"{path}: step 'a': job: 'nope'" in message for message in form.errors["params"])
    assert not Schedule.objects.filter(name="from-the-admin").exists()


def test_other_jobs_params_checks_apply_too(db):
    with pytest.raises(ValidationError, match="title: must be text"):
        factories.schedule("report", kind="cron", cron="0 3 * * *", params={"title": 42})
