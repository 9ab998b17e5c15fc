"""Django model permissions, per API action.

Each view lists what every action needs in ``required_permissions``: model permissions, or a
named rule of ``orchestrator.rules`` for the actions every door offers (run now, enable/disable,
cancel), so the API asks exactly what the admin and /schedules/ ask. An action that is not listed
is refused (fail closed). Anonymous requests get 401 (token authentication comes first),
authenticated users without the permissions get 403.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rest_framework.permissions import BasePermission

from orchestrator.rules import Rule

if TYPE_CHECKING:  # rest_framework.views imports this module through its settings
    from rest_framework.request import Request
    from rest_framework.views import APIView


def required_for(view: APIView, request: Request) -> Sequence[str] | Rule | None:
    """What ``view`` asks for the current action (None: the action is not allowed at all)."""
    table: Mapping[str, Sequence[str] | Rule] | None = getattr(view, "required_permissions", None)
    if table is None:
        return None
    action = getattr(view, "action", None) or (request.method or "").lower()
    return table.get(str(action))


class ModelActionPermission(BasePermission):
    """Authenticated users holding every model permission the view lists for the action."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user: Any = request.user
        if user is None or not user.is_authenticated:
            return False
        if (request.method or "").lower() not in view.http_method_names:
            return True  # the view answers 405 Method Not Allowed
        required = required_for(view, request)
        if required is None:
            return False
        if isinstance(required, Rule):
            return required.allows(user)
        return bool(user.has_perms(list(required)))
