"""Who may do what to schedules and runs: one named rule per action, consulted by every door.

The admin (actions and buttons), the ``/schedules/`` views and the REST API's
``required_permissions`` all ask these rules instead of naming permissions themselves, so an
action is allowed by the same permissions wherever it is asked for. Before this module, run now
needed ``scheduling.change_schedule`` in the admin and on ``/schedules/`` but ``view_schedule``
+ ``orchestrator.add_run`` in the API.

The rules (README "Permissions", docs/SECURITY.md):

- **Schedule controls** — run now, enable, disable, and the controls to come (pause, resume)
  — need ``scheduling.change_schedule``. Whoever may change a schedule can already make
  it fire now (a ``once`` schedule at the current minute) and switch it on or off in its form, so
  a weaker permission for these would protect nothing; a stronger one would only make editors
  hold two.
- **Backfills** are rows of their own (``scheduling.Backfill``): requesting one needs
  ``scheduling.add_backfill``, cancelling one ``scheduling.change_backfill``, so an operator may be
  given backfills without the right to edit schedules (and an editor kept from creating thousands
  of runs of the past).
- **Cancelling a run** needs ``orchestrator.change_run``: runs are read-only records, and
  cancelling is the one change anybody makes to one.

Management commands (``run_now NAME`` and the like) check no rule: they run with the
deployment's own database credentials, which is already every permission.

The permission strings name ``scheduling`` models although this app imports nothing of
``scheduling``: they are data (the dependency direction is unchanged), kept here so the doors of
both apps read one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Rule:
    """An action and the model permissions (``app_label.codename``) it needs, every one of them."""

    action: str
    permissions: tuple[str, ...]

    def allows(self, user: Any) -> bool:
        """Whether ``user`` (a user, an anonymous user or None) may do the action; superusers may."""
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        return bool(user.has_perms(self.permissions))


CHANGE_SCHEDULE = "scheduling.change_schedule"

#: Run a schedule's job now (trigger ``manual`` in the admin and on /schedules/, ``api`` in the API).
RUN_NOW = Rule(action="run a schedule now", permissions=(CHANGE_SCHEDULE,))
#: Enable or disable a schedule (and, when they come, pause and resume it).
ENABLE_DISABLE = Rule(action="enable or disable a schedule", permissions=(CHANGE_SCHEDULE,))
PAUSE_RESUME = Rule(action="pause or resume a schedule", permissions=(CHANGE_SCHEDULE,))
#: Create runs for a past range of a schedule's occurrences.
BACKFILL = Rule(action="backfill a schedule", permissions=("scheduling.add_backfill",))
#: Cancel a running backfill (its buffered occurrences and its runs not yet started).
CANCEL_BACKFILL = Rule(action="cancel a backfill", permissions=("scheduling.change_backfill",))
#: Cancel a pending, queued or running run.
CANCEL_RUN = Rule(action="cancel a run", permissions=("orchestrator.change_run",))

#: Start a past run again (its frozen configuration, as ``manual``): what run now of its schedule needs.
RUN_AGAIN = Rule(action="run a run again", permissions=(CHANGE_SCHEDULE,))

ALL = (RUN_NOW, RUN_AGAIN, ENABLE_DISABLE, PAUSE_RESUME, BACKFILL, CANCEL_BACKFILL, CANCEL_RUN)
