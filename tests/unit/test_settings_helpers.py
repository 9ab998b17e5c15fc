"""Environment readers, URL spelling, the embedded Redis's socket path."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from project import embedded_redis
from project.env import env_bool, env_int, env_optional_int, env_path, env_seconds
from project.redis_url import kombu_url


def test_project_names_win_over_seed_aliases(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SCHED_TICK_MS", "250")
    assert env_seconds("SCHEDULER_TICK_SECONDS", 1.0, millisecond_aliases=("SCHED_TICK_MS",)) == 0.25
    monkeypatch.setenv("SCHEDULER_TICK_SECONDS", "2")
    assert env_seconds("SCHEDULER_TICK_SECONDS", 1.0, millisecond_aliases=("SCHED_TICK_MS",)) == 2.0
    monkeypatch.setenv("SCHED_MAX_PARALLEL", "3")
    assert env_optional_int("SCHEDULER_MAX_GLOBAL_RUNS", aliases=("SCHED_MAX_PARALLEL",)) == 3
    monkeypatch.delenv("EVENTS_PATH", raising=False)
    monkeypatch.setenv("STATE_STORE_PATH", "/tmp/seed.jsonl")
    assert env_path("EVENTS_PATH", Path("/default"), aliases=("STATE_STORE_PATH",)) == Path("/tmp/seed.jsonl")


@pytest.mark.parametrize(
    ("name", "value", "reader"),
    [
        ("X_BOOL", "perhaps", lambda: env_bool("X_BOOL", False)),
        ("X_INT", "ten", lambda: env_int("X_INT", 1)),
        ("X_INT", "0", lambda: env_int("X_INT", 1, minimum=1)),
        ("X_SECONDS", "-1", lambda: env_seconds("X_SECONDS", 1.0)),
    ],
)
def test_malformed_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, name, value, reader):
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        reader()


def test_kombu_spells_unix_sockets_its_own_way():
    assert kombu_url("unix:///var/run/redis.sock?db=3") == "redis+socket:///var/run/redis.sock?virtual_host=3"
    assert kombu_url("redis://10.0.0.5:6379/2") == "redis://10.0.0.5:6379/2"


def test_embedded_socket_path_stays_short(tmp_path: Path):
    short = embedded_redis.socket_path_for(tmp_path)
    assert short == tmp_path / "redis.sock"
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 8)
    assert len(str(embedded_redis.socket_path_for(deep))) <= embedded_redis.MAX_SOCKET_PATH
    assert embedded_redis.socket_path_for(deep) == embedded_redis.socket_path_for(deep)
