"""One rule per action at every door (``orchestrator.rules``): run now and cancel, tried door by door.

Run now needs ``scheduling.change_schedule`` in the admin (action and button), on /schedules/ and
in the API; cancel needs ``orchestrator.change_run`` in the admin (action and button) and in the
API. Each door is tried by a user the rule allows and by one it does not, who holds what a door
used to accept instead (the API's run now took ``view_schedule`` + ``orchestrator.add_run``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from orchestrator import rules
from orchestrator.models import Run, RunStatus
from scheduling.models import Schedule
from tests import factories
from tests.records import run_for, staff_user

pytestmark = pytest.mark.django_db(transaction=True)


def _admin_action(client: Client, schedule: Schedule) -> Any:
    changelist = reverse("admin:scheduling_schedule_changelist")
    return client.post(changelist, {"action": "run_now_action", "_selected_action": [schedule.pk]})


def _admin_button(client: Client, schedule: Schedule) -> Any:
    return client.post(reverse("admin:scheduling_schedule_run_now", args=[schedule.pk]))


def _page(client: Client, schedule: Schedule) -> Any:
    return client.post(reverse("schedules:run_now", args=[schedule.pk]), headers={"Accept": "application/json"})


def _api(client: Client, schedule: Schedule) -> Any:
    return client.post(f"/api/schedules/{schedule.pk}/run-now/", content_type="application/json")


RUN_NOW_DOORS: dict[str, Callable[[Client, Schedule], Any]] = {
    "admin-action": _admin_action,
    "admin-button": _admin_button,
    "schedules-page": _page,
    "api": _api,
}


def _logged_in(user: User) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.parametrize("door", list(RUN_NOW_DOORS))
def test_run_now_follows_one_rule_at_every_door(door: str, redis_db: Any) -> None:
    schedule = factories.schedule("noop", kind="cron", cron="0 3 1 1 *")
    send = RUN_NOW_DOORS[door]

    # What the API used to accept, and viewing alone: refused at every door, nothing runs.
    old_api_rule = staff_user("api-runner", "scheduling.view_schedule", "orchestrator.add_run")
    viewer = staff_user("viewer", "scheduling.view_schedule")
    for refused in (old_api_rule, viewer):
        assert not rules.RUN_NOW.allows(refused)
        response = send(_logged_in(refused), schedule)
        assert response.status_code in (200, 302, 403), (door, response.status_code)  # the admin re-shows its list
        assert not Run.objects.exists(), f"{door} ran the schedule for {refused.username}"

    editor = staff_user("editor", "scheduling.view_schedule", "scheduling.change_schedule")
    assert rules.RUN_NOW.allows(editor)
    response = send(_logged_in(editor), schedule)
    assert response.status_code in (200, 202, 302), (door, response.status_code)
    run = Run.objects.get()
    assert run.occurrence.schedule == schedule and run.trigger == ("api" if door == "api" else "manual")


def test_the_doors_offer_run_now_only_to_users_the_rule_allows(redis_db: Any) -> None:
    schedule = factories.schedule("noop", kind="cron", cron="0 3 1 1 *")
    change_page = reverse("admin:scheduling_schedule_change", args=[schedule.pk])
    changelist = reverse("admin:scheduling_schedule_changelist")
    for user, offered in (
        (staff_user("api-runner", "scheduling.view_schedule", "orchestrator.add_run"), False),
        (staff_user("editor", "scheduling.view_schedule", "scheduling.change_schedule"), True),
    ):
        client = _logged_in(user)
        action_form = client.get(changelist).context["action_form"]
        actions = {name for name, _label in action_form.fields["action"].choices} if action_form else set()
        assert ("run_now_action" in actions) is offered, user.username
        assert ('data-action="run-now"' in client.get(change_page).content.decode()) is offered, user.username
        assert ('data-action-button="run-now"' in client.get("/schedules/").content.decode()) is offered


def _cancel_action(client: Client, run: Run) -> Any:
    changelist = reverse("admin:orchestrator_run_changelist")
    return client.post(changelist, {"action": "cancel_action", "_selected_action": [run.pk]})


def _cancel_button(client: Client, run: Run) -> Any:
    return client.post(reverse("admin:orchestrator_run_cancel", args=[run.pk]))


def _cancel_api(client: Client, run: Run) -> Any:
    return client.post(f"/api/runs/{run.pk}/cancel/", {"reason": "test"}, content_type="application/json")


CANCEL_DOORS: dict[str, Callable[[Client, Run], Any]] = {
    "admin-action": _cancel_action,
    "admin-button": _cancel_button,
    "api": _cancel_api,
}


@pytest.mark.parametrize("door", list(CANCEL_DOORS))
def test_cancel_follows_one_rule_at_every_door(door: str, redis_db: Any) -> None:
    run = run_for(factories.schedule("noop", kind="cron", cron="0 3 1 1 *"), status=RunStatus.QUEUED)
    send = CANCEL_DOORS[door]

    for refused in (
        staff_user("run-viewer", "orchestrator.view_run"),
        staff_user("run-adder", "orchestrator.view_run", "orchestrator.add_run", "scheduling.change_schedule"),
    ):
        assert not rules.CANCEL_RUN.allows(refused)
        response = send(_logged_in(refused), run)
        assert response.status_code in (200, 302, 403), (door, response.status_code)
        run.refresh_from_db()
        assert run.status == RunStatus.QUEUED, f"{door} cancelled the run for {refused.username}"

    canceller = staff_user("canceller", "orchestrator.view_run", "orchestrator.change_run")
    assert rules.CANCEL_RUN.allows(canceller)
    response = send(_logged_in(canceller), run)
    assert response.status_code in (200, 302), (door, response.status_code)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_inactive_and_anonymous_users_are_allowed_nothing() -> None:
    from django.contrib.auth.models import AnonymousUser

    root = User.objects.create_superuser("root", password="pw-root-rules")
    assert all(rule.allows(root) for rule in rules.ALL)
    root.is_active = False
    assert not any(rule.allows(root) for rule in rules.ALL)
    assert not any(rule.allows(AnonymousUser()) for rule in rules.ALL)
    assert not any(rule.allows(None) for rule in rules.ALL)
