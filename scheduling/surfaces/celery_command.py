"""``celery -A project schedules list|due|next NAME``: the database beat's schedule, in the Celery CLI.

Registered through the ``celery.commands`` entry point (pyproject.toml), so operators who live in
``celery inspect`` see what the beat will dispatch next to what the workers are doing.
"""

from __future__ import annotations

from typing import Any

import click


def _setup(ctx: click.Context) -> None:
    """``-A project`` loaded the app, which names the Django settings; set Django up here, not at import."""
    import django

    django.setup()


@click.group(name="schedules")
@click.pass_context
def schedules(ctx: click.Context) -> None:
    """Schedules of the database beat: list, due, next NAME."""
    _setup(ctx)


@schedules.command(name="list")
@click.option("--tenant", default=None, help="Only this tenant's schedules.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
def list_schedules(tenant: str | None, as_json: bool) -> None:
    """Every schedule: timing, state, next run, last status, policy."""
    _print_rows(due_only=False, tenant=tenant, as_json=as_json)


@schedules.command(name="due")
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
def due(as_json: bool) -> None:
    """Enabled schedules due now (a running beat dispatches them within a tick)."""
    _print_rows(due_only=True, tenant=None, as_json=as_json)


@schedules.command(name="next")
@click.argument("name")
@click.option("--count", "-n", default=5, show_default=True, type=click.IntRange(1, 1000), help="How many.")
def next_runs(name: str, count: int) -> None:
    """The next fire times of the schedule NAME (UTC, and in its own time zone)."""
    from django.utils import timezone

    from scheduling.models import Schedule
    from scheduling.surfaces import rows

    try:
        schedule, times = rows.next_fire_times(name, now=timezone.now(), count=count)
    except Schedule.DoesNotExist:
        raise click.ClickException(f"no schedule named {name!r}") from None
    for line in rows.render_next(schedule, times):
        click.echo(line)


def _print_rows(**kwargs: Any) -> None:
    from django.utils import timezone

    from scheduling.surfaces import rows

    as_json = kwargs.pop("as_json")
    now = timezone.now()
    found = rows.schedule_rows(now=now, **kwargs)
    if as_json:
        click.echo(rows.render_json(found))
    elif not found:
        click.echo("no schedules" + (" due" if kwargs.get("due_only") else ""))
    else:
        for line in rows.render_table(found, now=now):
            click.echo(line)
