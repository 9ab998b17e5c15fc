"""kombu's Redis channel, used after Celery collected its lost connection, fails as a connection error.

The exact path of the worker crash (see ``workers.redis_channel``), on real kombu objects and a private
``redis-server``: a message delivered and not acknowledged on the default channel, a broadcast
consumer on a second channel (as Celery's remote-control mailbox), ``BRPOP`` pending, Redis shut
down; then what Celery's consumer does on losing the connection: ``collect()``, then ``close()``
under ``ignore_errors``, and a run ending later acknowledges its message. Before the guard both
raised ``AttributeError: 'NoneType' object has no attribute 'hostname'``, which nothing catches.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import Any

import redis as redis_lib
from kombu import Connection, Consumer, Producer, Queue
from kombu.common import Broadcast, ignore_errors
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.helpers import start_private_redis
from tests.processes import free_port, wait_until
from workers.redis_channel import PATCHED, DetachedChannelError, patch_redis_channel


def test_the_guard_is_installed_once_and_leaves_an_attached_channel_alone(redis_db):
    from kombu.transport import redis as kombu_redis

    channel_class: Any = kombu_redis.Channel
    assert getattr(channel_class._connparams, PATCHED, False), "installed when the workers app is ready"
    assert patch_redis_channel() is False, "a second call wraps nothing"
    url = redis_db.connection_pool.connection_kwargs
    with Connection(f"redis://{url['host']}:{url['port']}/{url['db']}") as conn:
        channel: Any = conn.default_channel
        params = channel._connparams()
    assert (params["host"], params["port"], params["db"]) == (url["host"], url["port"], url["db"])


def test_a_channel_closed_after_its_connection_was_collected_fails_as_a_connection_error(live, caplog):
    port = free_port()
    server = start_private_redis(live, port)
    conn = Connection(f"redis://127.0.0.1:{port}/0")
    conn.connect()
    tasks = conn.default_channel
    queue = Queue("tasks", routing_key="tasks")
    Producer(tasks).publish({"run": 1}, routing_key="tasks", declare=[queue])
    delivered: list[Any] = []
    Consumer(tasks, [queue], callbacks=[lambda body, message: delivered.append(message)], accept=["json"]).consume()
    Consumer(conn.channel(), [Broadcast("mailbox")], callbacks=[lambda body, message: None], accept=["json"]).consume()

    def taken() -> list[Any]:
        _drain(conn)
        return delivered

    wait_until(taken, timeout=10, interval=0, message="the message to be delivered")
    _drain(conn)  # nothing more to take: a BRPOP stays pending, as in a worker's idle moment

    shutdown = redis_lib.Redis(port=port, retry=Retry(NoBackoff(), 0))
    with contextlib.suppress(redis_lib.ConnectionError):  # the server may go before it answers
        shutdown.shutdown(nosave=True)
    server.popen.wait(timeout=10)

    conn.collect(socket_timeout=1)  # Celery: Consumer.on_connection_error_after_connected
    ignore_errors(conn, conn.close)  # then the close of the collected connection: no AttributeError
    with caplog.at_level(logging.CRITICAL, logger="tests.ack"):  # a run ending after the loss acknowledges
        delivered[0].ack_log_error(logging.getLogger("tests.ack"), conn.connection_errors)
    [record] = [r for r in caplog.records if r.name == "tests.ack"]
    assert record.getMessage().startswith("Couldn't ack"), "logged by kombu, not raised"
    assert isinstance(record.args, tuple) and isinstance(record.args[1], DetachedChannelError)


def _drain(conn: Connection) -> None:
    """One short round of the event loop (returns when something arrived or after 50 ms)."""
    with contextlib.suppress(socket.timeout):
        conn.drain_events(timeout=0.05)
