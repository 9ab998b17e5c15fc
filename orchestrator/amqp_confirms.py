"""Publisher confirms for a batch of messages on RabbitMQ: publish them all, then await every confirm once.

With ``confirm_publish`` (``project/settings.py``) py-amqp waits for the broker's confirm after
each message: a round trip (and, for persistent messages, the broker's disk write) per run, which
cut a beat's burst to about a third (bench ``--only burst-brokers``). A batch here goes out on a
channel of its own in confirm mode with no wait per message, and the confirms (the broker
acknowledges several tags at once) are awaited together. The runs are marked queued before the
batch goes out (``orchestrator.publishing``); a refusal (``basic.nack``), a closed channel or a
confirm not received within the timeout fails the whole batch, whose runs go back to pending for recovery
(a message that did arrive is then delivered twice; the worker's compare-and-set runs it once).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from orchestrator.errors import SchedulerError


class PublishNotConfirmed(SchedulerError):
    """The broker refused a message (``basic.nack``) or did not confirm it in time."""


def applies(connection: Any) -> bool:
    """Whether ``connection`` (kombu's) is py-amqp's, the transport whose channels take publisher confirms."""
    return str(getattr(connection.transport, "driver_type", "")) == "amqp"


class ConfirmedBatch:
    """A channel of its own in confirm mode: publish on ``channel``, then ``wait()`` for every confirm."""

    def __init__(self, connection: Any, *, timeout_seconds: float) -> None:
        self.connection = connection
        self.timeout_seconds = timeout_seconds
        # A failed batch left its pooled connection closed: kombu's ``Producer.__exit__`` closes the
        # connection on an exception (kombu#2201, for celery#9259) and the pool then takes it back
        # as it is. Celery's own publish reconnects it; a channel opened on it here would be None and
        # every later batch of the process would fail. Connect it again (at most once, no waiting).
        connection.ensure_connection(max_retries=0)
        self.channel = connection.channel()
        self.published = 0
        self._single: set[int] = set()  # tags settled (acknowledged or refused) one by one
        self._up_to = 0  # every tag up to this one settled (``multiple``)
        self.refused = 0
        self.channel.confirm_select()
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)
        # The channel is ours alone: each publish is counted and not awaited (the connection's
        # ``confirm_publish`` installs a per-message wait on every channel it opens).
        self._send = self.channel._basic_publish
        self.channel.basic_publish = self._publish

    def _publish(self, *args: Any, **kwargs: Any) -> Any:
        self.published += 1
        return self._send(*args, **kwargs)

    def _settle(self, tag: int, multiple: bool) -> int:
        """Record the broker's answer for ``tag`` (and every earlier one if ``multiple``); how many it settled."""
        if not multiple:
            if tag in self._single or tag <= self._up_to:
                return 0
            self._single.add(tag)
            return 1
        if tag <= self._up_to:
            return 0
        newly = tag - self._up_to - sum(1 for known in self._single if self._up_to < known <= tag)
        self._up_to = tag
        return newly

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self.refused += self._settle(tag, multiple)

    def unsettled(self) -> int:
        """How many of the messages published on the channel the broker has not answered yet."""
        return self.published - self._up_to - sum(1 for tag in self._single if tag > self._up_to)

    def wait(self) -> None:
        """Return once the broker acknowledged every message; raise ``PublishNotConfirmed`` otherwise."""
        deadline = time.monotonic() + self.timeout_seconds
        while self.unsettled() > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishNotConfirmed(
                    f"{self.unsettled()} of {self.published} message(s) not confirmed in {self.timeout_seconds:g} s"
                )
            try:
                self.connection.drain_events(timeout=remaining)
            except TimeoutError:
                continue  # the deadline decides
        if self.refused:
            raise PublishNotConfirmed(f"the broker refused {self.refused} of {self.published} message(s) (basic.nack)")


@contextmanager
def confirmed_batch(connection: Any, *, timeout_seconds: float) -> Iterator[ConfirmedBatch]:
    """A ``ConfirmedBatch`` on ``connection``; its channel is closed on the way out."""
    batch = ConfirmedBatch(connection, timeout_seconds=timeout_seconds)
    try:
        yield batch
    finally:
        batch.channel.close()
