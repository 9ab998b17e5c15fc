"""A private Redis shut down under workers that hold messages, and started again empty.

Shared by ``tests/live/test_redis_restarts.py`` (runs at 50 a second, Redis shut down when the
queue is empty) and the bench's ``--only redis-restarts`` step (``bench/redis_restarts.py``: a queue
of thousands of runs drained at the end-to-end rate, Redis shut down while it is not empty). Both
need the same moment: workers holding unacknowledged messages, the state in which kombu must put
them back and in which a worker once died (``workers/redis_channel.py``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis as redis_lib
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.helpers import start_private_redis
from tests.processes import Proc, Processes, wait_until

#: How long each outage lasts at least (the probe that found the bug restarted Redis after about a second).
DOWN_SECONDS = 1.0
#: What a worker logs once it has given up its broken connection (cleanup done) and tries to connect again.
RETRYING = "Cannot connect to redis://"
#: The queue the runs go to (the ``noop`` and ``sleep`` jobs').
QUEUE = "default"


@dataclass(frozen=True, kw_only=True)
class Held:
    """The broker at one instant: messages waiting in the queue, messages taken and not acknowledged."""

    queued: int
    unacked: int


def held_with_empty_queue(held: Held) -> bool:
    """Workers hold messages and nothing is left queued: their free processes wait on ``BRPOP``."""
    return held.unacked > 0 and held.queued == 0


def held_under_load(held: Held) -> bool:
    """Workers hold messages and more wait in the queue: runs flowing at the rate the workers drain."""
    return held.unacked > 0 and held.queued > 0


@dataclass(frozen=True, kw_only=True)
class Restart:
    """One outage: the new server, how long Redis was away, the broker as it was shut down.

    ``down_at`` and ``up_at``: wall-clock seconds (``time.time()``) of the shutdown and of the new
    server answering, comparable with the database's timestamps on this machine.
    """

    server: Proc
    down_seconds: float
    unacked: int
    queued: int
    down_at: float
    up_at: float


def restart_under_load(
    live: Processes,
    server: Proc,
    port: int,
    workers: list[Proc],
    *,
    when: Callable[[Held], bool] = held_with_empty_queue,
    wait_seconds: float = 30.0,
) -> Restart:
    """Shut Redis down as soon as ``when`` holds; start it again once the workers gave up on it.

    Redis stays down at least ``DOWN_SECONDS`` and until each worker has closed its broken
    connection and tries to connect again (or died): the crash this is about happens in that
    cleanup, which must meet a dead server. The client that shuts Redis down does not retry:
    redis-py's default retries would keep reconnecting to the dying server for seconds (4.5 s
    measured), stretching the outage. The workers must log at WARNING or lower (``RETRYING`` is an
    error line) to a file ``Proc.output`` reads.
    """
    client = redis_lib.Redis(port=port, socket_connect_timeout=1, socket_timeout=2, retry=Retry(NoBackoff(), 0))

    def ready() -> Held | None:
        held = broker_state(client)
        return held if held is not None and when(held) else None

    held: Held = wait_until(ready, timeout=wait_seconds, interval=0.01, message="workers holding messages")
    retries = [w.output().count(RETRYING) for w in workers]
    with contextlib.suppress(redis_lib.ConnectionError):  # the server may go before it answers
        client.shutdown(nosave=True)
    down_at, down_wall = time.monotonic(), time.time()
    client.close()
    server.popen.wait(timeout=10)

    def gave_up() -> bool:
        return all(not w.alive() or w.output().count(RETRYING) > seen for w, seen in zip(workers, retries, strict=True))

    wait_until(gave_up, timeout=60, message="the workers to give up their broken connection")
    time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - down_at)))  # the outage's length, not a wait
    server = start_private_redis(live, port)
    return Restart(
        server=server,
        down_seconds=time.monotonic() - down_at,
        unacked=held.unacked,
        queued=held.queued,
        down_at=down_wall,
        up_at=time.time(),
    )


def broker_state(client: redis_lib.Redis) -> Held | None:
    """The queue's length and kombu's ``unacked`` hash's size, read together; None without Redis."""
    pipe = client.pipeline(transaction=False)
    pipe.llen(QUEUE)
    pipe.hlen("unacked")
    try:
        queued, unacked = pipe.execute()
    except redis_lib.RedisError:
        return None
    return Held(queued=int(queued), unacked=int(unacked))
