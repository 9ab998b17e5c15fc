"""Environment readers, URL spelling, the embedded Redis's socket path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def _settings_in_child(env: dict[str, str]) -> dict[str, object]:
    """The real settings module loaded in a fresh interpreter with ``env`` (settings are read at import)."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SCHED", "EVENTS_PATH", "STATE_", "ORCH_"))}
    code = (
        "import json, django; from django.conf import settings; django.setup(); print(json.dumps({"
        "'tick': settings.SCHEDULER_TICK_SECONDS, 'max': settings.SCHEDULER_MAX_GLOBAL_RUNS, "
        "'events': str(settings.EVENTS_PATH)}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**keep, "DJANGO_SETTINGS_MODULE": "project.settings", **env},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_the_seed_names_configure_the_real_settings_and_the_project_names_win(tmp_path: Path):
    seed = {
        "SCHED_TICK_MS": "250",
        "SCHED_MAX_PARALLEL": "3",
        "STATE_STORE_PATH": str(tmp_path / "state.jsonl"),
        "ORCH_EVENTS_PATH": str(tmp_path / "orch.jsonl"),
    }
    assert _settings_in_child(seed) == {"tick": 0.25, "max": 3, "events": str(tmp_path / "state.jsonl")}
    only_orch = {"ORCH_EVENTS_PATH": str(tmp_path / "orch.jsonl")}
    assert _settings_in_child(only_orch)["events"] == str(tmp_path / "orch.jsonl")
    both = seed | {
        "SCHEDULER_TICK_SECONDS": "2",
        "SCHEDULER_MAX_GLOBAL_RUNS": "7",
        "EVENTS_PATH": str(tmp_path / "events.jsonl"),
    }
    assert _settings_in_child(both) == {"tick": 2.0, "max": 7, "events": str(tmp_path / "events.jsonl")}
