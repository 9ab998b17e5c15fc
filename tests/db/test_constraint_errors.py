"""Every constraint PostgreSQL enforces on the project's tables is explained by a field error.

A write that validation let through and the database refused (a race, or a door that skipped
validation) reaches the user through ``orchestrator.constraints``: these tests make each
constraint refuse a write (``update()`` skips validation) and check the field and the words.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import models
from django.utils import timezone

from orchestrator import constraints
from orchestrator.errors import ConstraintError
from orchestrator.models import Directive, Job
from scheduling.models import Schedule
from tests import factories

pytestmark = pytest.mark.django_db

Change = Callable[[models.Model, models.Model], dict[str, Any]]
LATER = timezone.now() + timedelta(days=1)

#: (constraint, model, field named, the change of one row that breaks it; the other row is a sibling).
VIOLATIONS: list[tuple[str, type[models.Model], str, Change]] = [
    ("scheduling_schedule_name_key", Schedule, "name", lambda row, other: {"name": other.name}),  # type: ignore[attr-defined]
    (
        "schedule_interval_positive",
        Schedule,
        "interval_seconds",
        lambda r, o: {"kind": "interval", "interval_seconds": 0},
    ),
    ("schedule_once_run_at", Schedule, "run_at", lambda r, o: {"kind": "once", "run_at": None}),
    ("schedule_cron_present", Schedule, "cron", lambda r, o: {"kind": "cron", "cron": ""}),
    ("schedule_end_after_start", Schedule, "end_at", lambda r, o: {"start_at": LATER, "end_at": LATER}),
    ("schedule_max_concurrency_positive", Schedule, "max_concurrency", lambda r, o: {"max_concurrency": 0}),
    ("scheduling_schedule_interval_seconds_check", Schedule, "interval_seconds", lambda r, o: {"interval_seconds": -1}),
    (
        "scheduling_schedule_misfire_grace_seconds_check",
        Schedule,
        "misfire_grace_seconds",
        lambda r, o: {"misfire_grace_seconds": -1},
    ),
    ("scheduling_schedule_jitter_seconds_check", Schedule, "jitter_seconds", lambda r, o: {"jitter_seconds": -1}),
    ("job fk", Schedule, "job", lambda r, o: {"job_id": 2_000_000_000}),
    ("directive fk", Schedule, "directive", lambda r, o: {"directive_id": 2_000_000_000}),
    ("orchestrator_job_key_key", Job, "key", lambda row, other: {"key": other.key}),  # type: ignore[attr-defined]
    ("job_timeout_positive", Job, "timeout_seconds", lambda r, o: {"timeout_seconds": 0}),
    ("job_max_concurrency_positive", Job, "max_concurrency", lambda r, o: {"max_concurrency": 0}),
    ("orchestrator_job_max_retries_check", Job, "max_retries", lambda r, o: {"max_retries": -1}),
    ("orchestrator_directive_name_key", Directive, "name", lambda row, other: {"name": other.name}),  # type: ignore[attr-defined]
    ("job fk", Directive, "job", lambda r, o: {"job_id": 2_000_000_000}),
]


def _rows(model: type[models.Model]) -> tuple[models.Model, models.Model]:
    if model is Schedule:
        return factories.schedule("noop", kind="cron", cron="0 2 * * *"), factories.schedule("noop")
    if model is Job:
        return Job.objects.get(key="noop"), Job.objects.exclude(key="noop").order_by("key").first()
    job = Job.objects.get(key="noop")
    return Directive.objects.create(name="first", job=job), Directive.objects.create(name="second", job=job)


@pytest.mark.parametrize(
    ("constraint", "model", "field", "change"),
    VIOLATIONS,
    ids=[f"{model.__name__}:{name}" for name, model, _, _ in VIOLATIONS],
)
def test_a_refused_write_names_the_field_in_the_mapping_words(
    constraint: str, model: type[models.Model], field: str, change: Change
):
    row, other = _rows(model)
    with pytest.raises(ConstraintError) as refused, constraints.enforced():
        model._default_manager.filter(pk=row.pk).update(**change(row, other))
    rule = constraints.rules().by_name[refused.value.constraint]
    if not constraint.endswith(" fk"):  # foreign keys are named by Django with a hash
        assert refused.value.constraint == constraint
    assert (rule.model, rule.field) == (model._meta.label, field)
    assert refused.value.errors == {field: [rule.message]}
    model._default_manager.get(pk=row.pk)  # the refused write left the row readable: the savepoint is undone


def test_every_constraint_of_the_projects_tables_is_explained():
    found = constraints.read_rules()
    assert found.unmapped == ()
    named = {name for name, rule in found.by_name.items() if rule.model.startswith(("scheduling.", "orchestrator."))}
    # Every Meta constraint of the models is among them, with the field its words are about.
    for model in (Schedule, Job, Directive):
        for constraint in model._meta.constraints:
            assert constraint.name in named, constraint.name
    assert {name for name in constraints.NAMED} <= named


def test_a_unique_check_before_the_write_says_what_the_refusal_says():
    """The form's own check (no race) and the database's refusal (a race) read alike."""
    taken = factories.schedule("noop", name="taken")
    candidate = Schedule(name=taken.name, job=taken.job, kind="interval", interval_seconds=60)
    with pytest.raises(Exception) as checked:
        candidate.validate_unique()
    assert checked.value.message_dict == {"name": [constraints.unique_message(Schedule, ["name"])]}  # type: ignore[attr-defined]
    assert constraints.unique_message(Schedule, ["name"]) == (
        "another schedule already has this name; choose a name no other schedule has"
    )
