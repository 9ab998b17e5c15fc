"""A worker survives Redis restarts under load: a closed broker channel fails as a connection error.

When a worker's consumer loses Redis, Celery (``Consumer.on_connection_error_after_connected``)
first *collects* the broken connection, which detaches kombu's transport from it
(``transport.client = None``), and then closes it. Closing the task channel puts its
unacknowledged messages back (``QoS.restore_unacked``), and a run that ends after the loss
acknowledges its message on that same channel (``QoS.ack``). Both need a Redis client; the
channel's pool was disconnected at the first close attempt, so kombu builds a new one from
``Channel._connparams``, which reads ``self.connection.client.hostname`` from the detached
transport: ``AttributeError: 'NoneType' object has no attribute 'hostname'``. Every caller on
this path (``kombu.common.ignore_errors``, ``Message.ack_log_error``, the consumer's reconnect
loop) tolerates the transport's *connection errors* only, so the AttributeError ended the whole
worker ("Unrecoverable error"). It needs unacknowledged messages at the moment of the loss, i.e.
load: the test that restarted Redis at one run a second never saw it.

The task channel is still open at that point because, inside ``collect()``, closing it failed on
the dead server: ``Channel.close`` first reads the pending ``BRPOP`` reply (added by
celery/kombu#1733), and the transport's close of the other channels stops at the first one that
fails (the remote-control channel deleting its auto-delete queue). Upstream reports of the same
``_connparams`` failure on a closed connection: celery/kombu#970 (through ``restore_unacked``)
and celery/kombu#582 (through ``queue_delete``). It still happens with Celery 5.7.0 (pinned in
``pyproject.toml``) and the kombu 5.7.0 it installs: ``tests/live/test_redis_channel.py``
reproduces it on kombu's own objects, ``tests/live/test_redis_restarts.py`` on workers.

``patch_redis_channel`` makes ``_connparams`` of a channel whose transport is detached raise
``redis.exceptions.ConnectionError``: the error the same restore or acknowledgement raises with
the transport still attached and Redis down, which every caller already handles. The close goes
on, the late acknowledgement is logged ("Couldn't ack") and dropped, and the consumer reconnects.
Nothing is lost by that: a message not put back stays in Redis's ``unacked`` hash (when Redis kept
its data) and is redelivered after the visibility timeout; when Redis lost it, the run's in-flight
note went with it and the beats' recovery publishes the run again. A run already executed loses
the claim's compare-and-set on any such second delivery. The guard changes nothing while the transport is attached, so
an upstream fix that stops reaching this state makes it inert; it is applied once per process.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import redis

logger = logging.getLogger(__name__)

#: Set on the patched function, so a second call (a second Django setup) does not wrap it twice.
PATCHED = "_ostinato_detached_guard"


class DetachedChannelError(redis.exceptions.ConnectionError):
    """A Redis broker channel was used after its connection was closed (no client to connect with)."""


def patch_redis_channel() -> bool:
    """Guard ``kombu.transport.redis.Channel._connparams`` against a detached transport; True if applied now.

    Idempotent. Returns False when already applied, or when the installed kombu has no such method
    (its Redis transport changed: the guard is then not needed in this form, and nothing is patched).
    """
    from kombu.transport import redis as kombu_redis

    channel_class: Any = kombu_redis.Channel  # kombu's stubs do not declare its private methods
    original = getattr(channel_class, "_connparams", None)
    if original is None:
        logger.warning("kombu's Redis Channel has no _connparams: the detached-channel guard is not applied")
        return False
    if getattr(original, PATCHED, False):
        return False
    channel_class._connparams = _guarded(original)
    return True


def _guarded(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def _connparams(self: Any, *args: Any, **kwargs: Any) -> Any:
        transport = getattr(self, "connection", None)
        if transport is None or getattr(transport, "client", None) is None:
            raise DetachedChannelError("the broker connection of this channel is closed")
        return original(self, *args, **kwargs)

    setattr(_connparams, PATCHED, True)
    return _connparams
