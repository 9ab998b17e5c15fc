"""Failed logins (admin and /accounts/login/) and unknown API tokens are throttled per client address.

Logins: after ``LOGIN_FAILURE_LIMIT`` failures from one address, or for one username from any
address, every login attempt of that address or username gets 429 (the right password too) until
``LOGIN_LOCKOUT_SECONDS`` after the last failure; successful logins are neither counted nor slowed.
API tokens: after ``API_TOKEN_FAILURE_LIMIT`` unknown keys from one address in a window, that
address's token requests get 429 with ``Retry-After`` until the window ends. The counters live in
Redis (Django's cache); their expiry is read from Redis, not waited for.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib
from django.conf import LazySettings
from django.test import Client

from scheduling.surfaces.api.tokens import ApiToken
from tests.records import staff_user

pytestmark = pytest.mark.django_db

PASSWORD = "pw-" + uuid.uuid4().hex


@pytest.fixture
def counters(settings: LazySettings) -> Iterator[redis_lib.Redis]:
    """The Redis database holding the cache's counters (this session's own)."""
    settings.AXES_FAILURE_LIMIT = 3
    settings.API_TOKEN_FAILURE_LIMIT = 4
    client = redis_lib.Redis.from_url(os.environ["REDIS_URL"])
    yield client
    client.close()


def cache_keys(client: redis_lib.Redis) -> list[str]:
    return [key.decode() for key in client.scan_iter(match="ostinato-cache:*")]


def login(url: str, username: str, password: str, address: str = "127.0.0.1") -> Any:
    return Client(REMOTE_ADDR=address).post(url, {"username": username, "password": password})


@pytest.mark.parametrize("url", ["/admin/login/", "/accounts/login/"])
def test_failed_logins_are_locked_out_per_address_and_per_username(
    url: str, counters: redis_lib.Redis, settings: LazySettings
) -> None:
    for name in ("ops", "other"):
        user = staff_user(name)
        user.set_password(PASSWORD)
        user.save()

    # Below the limit: the form's own error; at it: 429 for this address, even with the right password.
    for _ in range(2):
        wrong = login(url, "ops", "wrong")
        assert wrong.status_code == 200 and wrong.context["form"].errors, "the form says the login failed"
    assert login(url, "ops", "wrong").status_code == 429
    client = Client()
    locked = client.post(url, {"username": "other", "password": PASSWORD})
    assert locked.status_code == 429 and "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in client.session, "not logged in"

    # The username is locked from any address; another user from another address is not.
    assert login(url, "ops", PASSWORD, address="10.0.0.7").status_code == 429
    assert login(url, "other", PASSWORD, address="10.0.0.8").status_code == 302

    # The lock ends LOGIN_LOCKOUT_SECONDS after the last failure: that is its counters' expiry in Redis.
    keys = cache_keys(counters)
    assert keys and all(0 < counters.ttl(key) <= settings.LOGIN_LOCKOUT_SECONDS for key in keys)
    counters.delete(*keys)  # what their expiry does
    assert login(url, "ops", PASSWORD).status_code == 302


def test_successful_logins_are_not_counted_or_slowed(counters: redis_lib.Redis) -> None:
    user = staff_user("ops")
    user.set_password(PASSWORD)
    user.save()
    assert login("/admin/login/", "ops", "wrong").status_code == 200
    assert login("/admin/login/", "ops", "wrong").status_code == 200
    for _ in range(10):  # far past the limit of 3
        assert login("/admin/login/", "ops", PASSWORD).status_code == 302
    assert login("/admin/login/", "ops", "wrong").status_code == 200, "a success cleared the earlier failures"


def test_unknown_api_tokens_are_throttled_per_address(counters: redis_lib.Redis, settings: LazySettings) -> None:
    user = staff_user("robot", "orchestrator.view_job")
    _token, key = ApiToken.objects.issue(user)
    here = Client(REMOTE_ADDR="192.0.2.10")
    for attempt in range(4):
        assert here.get("/api/jobs/", HTTP_AUTHORIZATION=f"Token ost_guess{attempt}").status_code == 401
    refused = here.get("/api/jobs/", HTTP_AUTHORIZATION=f"Token {key}")
    assert refused.status_code == 429, "the address is throttled, whatever key it sends now"
    assert "unknown API token" in refused.json()["detail"]
    wait = int(refused["Retry-After"])
    assert 0 < wait <= settings.API_TOKEN_FAILURE_WINDOW_SECONDS + 1
    assert key not in str(cache_keys(counters)), "keys are never stored, not even as counter names"

    # /readyz reads tokens too: a throttled one gets the short answer, never an error.
    readyz = here.get("/readyz", HTTP_AUTHORIZATION=f"Token {key}")
    assert readyz.status_code in (200, 503) and "checks" not in readyz.json()
    # Other addresses, sessions and requests without a token are not affected.
    assert Client(REMOTE_ADDR="192.0.2.11").get("/api/jobs/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    session = Client(REMOTE_ADDR="192.0.2.10")
    session.force_login(user)
    assert session.get("/api/jobs/").status_code == 200

    counters.delete(*cache_keys(counters))  # the window's end (its key expires)
    assert here.get("/api/jobs/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_behind_trusted_proxies_the_proxy_seen_address_counts(
    counters: redis_lib.Redis, settings: LazySettings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    user = staff_user("robot", "orchestrator.view_job")
    _token, key = ApiToken.objects.issue(user)
    proxy = "10.1.1.1"
    for attempt in range(4):  # one client behind the proxy, lying about its address on the left
        Client(REMOTE_ADDR=proxy).get(
            "/api/jobs/",
            HTTP_AUTHORIZATION=f"Token ost_guess{attempt}",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}, 203.0.113.5",
        )
    throttled = Client(REMOTE_ADDR=proxy).get(
        "/api/jobs/", HTTP_AUTHORIZATION=f"Token {key}", HTTP_X_FORWARDED_FOR="203.0.113.5"
    )
    assert throttled.status_code == 429
    other = Client(REMOTE_ADDR=proxy).get(
        "/api/jobs/", HTTP_AUTHORIZATION=f"Token {key}", HTTP_X_FORWARDED_FOR="203.0.113.99"
    )
    assert other.status_code == 200, "another client behind the same proxy"
