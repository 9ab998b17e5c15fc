"""A private Redis primary, its replica and three Sentinels for live tests, stopped with the test's processes.

Debian's ``redis-sentinel`` runs the Sentinels (``redis-server --sentinel`` where only the server is
installed: the same program). Short ``down-after-milliseconds`` and ``failover-timeout`` make a
failover take a few seconds instead of the default half minute; not shorter than 2 s: with 1 s, a
loaded machine once kept a freshly promoted master from answering the Sentinels for a second, and
they failed over again, to the restarted old primary.

The primary writes an append-only file, so when it is started again after its SIGKILL it comes
back with its old data, writes the replica never got included: the stale primary a client must
not write to.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis as redis_lib
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.processes import Proc, Processes, free_port, wait_until

MASTER_NAME = "ostinato"
DOWN_AFTER_MS = 2000
FAILOVER_TIMEOUT_MS = 3000


@dataclass
class SentinelSet:
    primary: Proc
    primary_port: int
    replica_port: int
    sentinel_ports: list[int]
    sentinels: list[Proc] = field(default_factory=list)

    def url(self, db: int = 0) -> str:
        """kombu's form: ``sentinel://127.0.0.1:p1/db;sentinel://127.0.0.1:p2;...``."""
        first, *rest = self.sentinel_ports
        return ";".join([f"sentinel://127.0.0.1:{first}/{db}", *(f"sentinel://127.0.0.1:{port}" for port in rest)])


def _client(port: int) -> redis_lib.Redis:
    """A client that does not retry: a dead server must fail at once, not after redis-py's backoff."""
    return redis_lib.Redis(port=port, socket_connect_timeout=1, socket_timeout=2, retry=Retry(NoBackoff(), 0))


def _server(live: Processes, name: str, port: int, *extra: str) -> Proc:
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return live.start(name, [*argv, *extra])


def _persistent(folder: Path) -> list[str]:
    """The primary's append-only file, in ``folder``, so a restart brings its old data back."""
    return ["--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(folder)]


def _sentinel_argv(config: Path) -> list[str]:
    binary = shutil.which("redis-sentinel")
    return [binary, str(config)] if binary else ["redis-server", str(config), "--sentinel"]


def start_sentinel_set(live: Processes, folder: Path) -> SentinelSet:
    """Primary, replica (in sync) and three Sentinels that see both and each other."""
    primary_port, replica_port = free_port(), free_port()
    folder.mkdir(parents=True, exist_ok=True)
    primary = _server(live, "redis-primary", primary_port, *_persistent(folder))
    replica_dir = folder / "replica"  # where it keeps the copy a full synchronisation sends
    replica_dir.mkdir()
    replica_of = ["--replicaof", "127.0.0.1", str(primary_port)]
    _server(live, "redis-replica", replica_port, *replica_of, "--dir", str(replica_dir))
    found = SentinelSet(
        primary=primary,
        primary_port=primary_port,
        replica_port=replica_port,
        sentinel_ports=[free_port() for _ in range(3)],
    )
    for port in found.sentinel_ports:
        config = folder / f"sentinel-{port}.conf"  # Sentinel rewrites its file: one each
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        found.sentinels.append(live.start(f"sentinel-{port}", _sentinel_argv(config)))
    wait_until(lambda: _in_sync(replica_port), timeout=20, message="the replica in sync")
    wait_until(
        lambda: _all_see_each_other(found), timeout=30, message="the Sentinels to see the replica and each other"
    )
    return found


def _in_sync(port: int) -> bool:
    try:
        info = _client(port).info("replication")
    except redis_lib.RedisError:
        return False
    return info.get("master_link_status") == "up"


def _all_see_each_other(found: SentinelSet) -> bool:
    for port in found.sentinel_ports:
        try:
            master = _client(port).sentinel_master(MASTER_NAME)
        except redis_lib.RedisError:
            return False
        if not isinstance(master, dict):
            return False
        if int(master.get("num-other-sentinels", 0)) < 2 or int(master.get("num-slaves", 0)) < 1:
            return False
    return True


@dataclass(frozen=True)
class Failover:
    seconds: float  # from the SIGKILL until every Sentinel names the replica and it is master
    lost_bytes: int  # of the replication stream the primary wrote and the replica never got


def fail_over_losing_writes(found: SentinelSet, *, lost_window_seconds: float, timeout: float = 30) -> Failover:
    """Cut the replica off for ``lost_window_seconds`` (the writes meanwhile are lost), then SIGKILL the primary.

    Asynchronous replication loses what the replica had not received when the primary died; on
    one host that is a few microseconds' worth, so the test makes it a window: the replica is
    given a wrong ``masterauth`` and its link is killed, so it cannot resynchronise while the
    primary goes on acknowledging writes. Returns how long the failover took and how much of the
    replication stream was lost.
    """
    replica, primary = _client(found.replica_port), _client(found.primary_port)
    replica.config_set("masterauth", "cut-off-on-purpose")
    primary.client_kill_filter(_type="replica")
    wait_until(lambda: not _in_sync(found.replica_port), timeout=5, interval=0.01, message="the replica cut off")
    replica_offset = int(replica.info("replication")["master_repl_offset"])
    time.sleep(lost_window_seconds)
    primary_offset = int(primary.info("replication")["master_repl_offset"])
    killed_at = time.monotonic()
    found.primary.kill()
    replica.config_set("masterauth", "")

    def promoted() -> bool:
        for port in found.sentinel_ports:
            try:
                address = _client(port).sentinel_get_master_addr_by_name(MASTER_NAME)
            except redis_lib.RedisError:
                return False
            if not isinstance(address, tuple | list) or int(address[1]) != found.replica_port:
                return False
        return _role(found.replica_port) == "master"

    wait_until(promoted, timeout=timeout, interval=0.05, message="the Sentinels to promote the replica")
    return Failover(seconds=time.monotonic() - killed_at, lost_bytes=primary_offset - replica_offset)


def _role(port: int) -> str:
    try:
        return str(_client(port).info("replication").get("role"))
    except redis_lib.RedisError:
        return ""


class StalePrimaryWatch:
    """The old primary started again (with its stale data, as a master) and watched while it is one.

    Until the Sentinels make it a replica of the new master it answers writes, so a client that
    still believed in it would write there and lose them. Every 50 ms, while it says it is a
    master, ``CLIENT LIST`` is read and each client that is not a Sentinel's (named ``sentinel-…``)
    and not this watch is kept.
    """

    def __init__(self, live: Processes, found: SentinelSet, folder: Path) -> None:
        self._stop = threading.Event()
        self.strangers: set[str] = set()
        self.reads = 0  # how many times the client list was read: the watch did watch
        self.server = _server(live, "redis-old-primary", found.primary_port, *_persistent(folder))
        self._port = found.primary_port
        self._thread = threading.Thread(target=self._watch, name="stale-primary-watch", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        client = redis_lib.Redis(port=self._port, socket_connect_timeout=1, socket_timeout=2, client_name="watch")
        while not self._stop.wait(0.05):
            try:
                if client.info("replication").get("role") != "master":
                    continue  # a replica refuses our writes (READONLY)
                clients = client.client_list()
            except redis_lib.RedisError:
                continue
            self.reads += 1
            for seen in clients:
                name = str(seen.get("name", ""))
                if name != "watch" and not name.startswith("sentinel-") and "flags=S" not in str(seen):
                    self.strangers.add(
                        f"{seen.get('addr')} name={name!r} lib={seen.get('lib-name')} cmd={seen.get('cmd')}"
                    )

    def stop(self) -> str:
        """Stop watching; the old primary's role now (``slave`` once the Sentinels have demoted it)."""
        self._stop.set()
        self._thread.join(timeout=5)
        return _role(self._port)
