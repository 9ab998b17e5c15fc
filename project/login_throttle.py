"""Login throttling (django-axes) for the admin login and ``/accounts/login/``.

django-axes counts failed logins per client address and per username in the ``default`` cache
(Redis); past ``LOGIN_FAILURE_LIMIT`` of either within ``LOGIN_LOCKOUT_SECONDS`` it refuses
every login attempt of that address or username with ``429`` until the period has passed
(counted from the last failure), correct password or not, so a guess that happens to be right
tells the guesser nothing. A successful login clears the counters of its address and username;
successful logins are never delayed.

Axes's backend refuses ``authenticate()`` calls without a request (it needs the address). Calls
without one come from code, not from a client (Django's test client ``login()``, scripts), so
this backend lets them through to the next backend instead.
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend  # type: ignore[import-untyped]  # no type information


class LoginThrottleBackend(AxesStandaloneBackend):
    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
