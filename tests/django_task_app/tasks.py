"""``django.tasks`` Tasks as a host project writes them, for the tests of jobs of kind ``django_task``.

Each Task is made with the backend that ``TASKS`` configures where this module is imported: the
backport's default (immediate) in the test process, its database backend in the live tier's
processes (``tests.settings_django_tasks``).
"""

from __future__ import annotations

from typing import Any

from django_tasks import TaskContext, task
from django_tasks.base import Task


@task()
def add(x: int, y: int, *, scale: int = 1) -> int:
    """Adds two numbers (and scales the sum)."""
    return (x + y) * scale


@task(takes_context=True)
def noted(context: TaskContext, note: str = "") -> dict[str, Any]:
    """What the Task sees of itself while the backend runs it."""
    return {"id": context.task_result.id, "note": note}


def plain(x: int, y: int) -> int:
    """A plain function beside the Tasks: not a Task, so no job."""
    return x + y


#: A Task's function, not the Task: no job either.
unwrapped = add.func


class OwnTask(Task[Any, Any]):
    """A backend's own Task class (``task_class``), as some backends have: still a Task."""


def _own(x: int) -> int:
    return x


own_class = OwnTask(func=_own)
