"""kombu's ``sentinel://`` URLs read into the Sentinels, database and credentials our own client uses."""

from __future__ import annotations

import pytest
from django.test import override_settings

from orchestrator.checks import check_redis_sentinel
from orchestrator.connections import SentinelTarget, is_sentinel_url
from orchestrator.errors import SchedulerError


@pytest.mark.parametrize(
    ("url", "sentinels", "db", "password"),
    [
        ("sentinel://h1:26379", (("h1", 26379),), 0, None),
        ("sentinel://h1/3", (("h1", 26379),), 3, None),
        (
            "sentinel://h1:26379/2;sentinel://h2:26380;sentinel://h3:26381",
            (("h1", 26379), ("h2", 26380), ("h3", 26381)),
            2,
            None,
        ),
        ("sentinel://:s%40cret@h1:26379/1; sentinel://h2:26380", (("h1", 26379), ("h2", 26380)), 1, "s@cret"),
    ],
)
def test_sentinel_urls_name_every_sentinel_the_database_and_the_masters_password(url, sentinels, db, password):
    target = SentinelTarget.parse(url, "mymaster")
    assert (target.sentinels, target.db, target.password, target.master_name) == (sentinels, db, password, "mymaster")
    assert is_sentinel_url(url)


@pytest.mark.parametrize("url", ["sentinel://h1:26379;redis://h2:6379/0", "sentinel://:26379"])
def test_anything_but_sentinels_in_a_sentinel_url_is_refused(url):
    with pytest.raises(SchedulerError, match="not a Sentinel URL"):
        SentinelTarget.parse(url, "mymaster")


def test_redis_urls_are_not_sentinel_urls():
    assert not is_sentinel_url("redis://h1:6379/0")
    assert not is_sentinel_url("unix:///tmp/redis.sock?db=0")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"SCHEDULER_REDIS_URL": "redis://h1:6379/0"}, []),
        ({"SCHEDULER_REDIS_URL": "sentinel://h1:26379/0", "SCHEDULER_REDIS_SENTINEL_MASTER": "m"}, []),
        ({"SCHEDULER_REDIS_URL": "sentinel://h1:26379/0", "SCHEDULER_REDIS_SENTINEL_MASTER": None}, ["E014"]),
        ({"SCHEDULER_REDIS_URL": "sentinel://h1:port/0", "SCHEDULER_REDIS_SENTINEL_MASTER": "m"}, ["E014"]),
        ({"SCHEDULER_REDIS_URL": "sentinel://h1:26379/zero", "SCHEDULER_REDIS_SENTINEL_MASTER": "m"}, ["E014"]),
    ],
)
def test_a_sentinel_url_is_checked_at_start_up(overrides, expected):
    with override_settings(**overrides):
        assert [message.id.removeprefix("orchestrator.") for message in check_redis_sentinel(None)] == expected
