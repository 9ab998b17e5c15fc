"""The two brokers the live tier proves the broker-dependent promises on: Redis and RabbitMQ.

Redis is the session's own database number (``tests/testenv.py``). RabbitMQ is a vhost of the
session's own, ``ostinato-s<slot>``, created with ``rabbitmqctl`` when a test first asks for it and
deleted when the session ends, so two test runs on one machine never see each other's queues.
Redis keeps holding the apps' keys (leases, heartbeats, in-flight notes) with either broker.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from tests.testenv import RABBITMQ_HOST, RABBITMQ_PORT

BrokerName = Literal["redis", "rabbitmq"]
BROKERS: tuple[BrokerName, ...] = ("redis", "rabbitmq")


def _rabbitmqctl(*args: str) -> None:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} exited {done.returncode}: {done.stderr or done.stdout}")


@contextmanager
def rabbitmq_vhost(name: str) -> Iterator[str]:
    """A fresh vhost ``name`` (a stale one from a killed run is dropped first); yields its broker URL."""
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, timeout=60, check=False)
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/{name}"
    finally:
        _rabbitmqctl("delete_vhost", name)


@contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """This process's Celery app publishes, broadcasts and inspects through ``url`` until the block ends.

    The subprocesses get the broker from ``BROKER_URL``; this process read its settings already, so
    the app's configuration is switched and its connection pools (made for the old URL) dropped.
    """
    from project.celery import app

    def drop_pools() -> None:  # Celery makes them lazily, for the URL of the moment
        app.amqp._producer_pool = None  # type: ignore[attr-defined]
        app._pool = None  # type: ignore[attr-defined]

    previous = app.conf.broker_url
    app.conf["broker_url"] = url
    drop_pools()
    try:
        yield
    finally:
        app.conf["broker_url"] = previous
        drop_pools()


@contextmanager
def queue_type(kind: str) -> Iterator[None]:
    """This process's Celery app declares ``kind`` queues (``classic`` or ``quorum``) until the block ends:
    what ``BROKER_QUEUE_TYPE`` sets in the standalone settings, switched after they were read."""
    from project.celery import app

    names = ("task_default_queue_type", "task_create_missing_queue_type")
    previous = {name: app.conf[name] for name in names}
    app.conf.update(dict.fromkeys(names, kind))
    app.amqp.queues = app.amqp.Queues(app.conf.task_queues)  # type: ignore[misc]  # made once, from the settings then
    try:
        yield
    finally:
        app.conf.update(previous)
        app.amqp.queues = app.amqp.Queues(app.conf.task_queues)  # type: ignore[misc]


def rabbitmq_queue_types(url: str) -> dict[str, str]:
    """Each queue of the vhost of ``url`` and its type (``classic``, ``quorum``), as RabbitMQ lists them."""
    vhost = url.rsplit("/", 1)[-1]
    done = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "type"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = (line.split("\t") for line in done.stdout.splitlines() if "\t" in line)
    return {name: kind for name, kind in rows}


def delete_queues(url: str, queues: tuple[str, ...] = ("default",)) -> None:
    """Delete these queues on the broker at ``url`` (RabbitMQ answers ok for a queue that does not exist)."""
    from kombu import Connection

    with Connection(url) as connection:
        channel: Any = connection.default_channel
        for queue in queues:
            channel.queue_delete(queue)


def rabbitmq_queue_policy(url: str, name: str, queue: str, definition: str) -> None:
    """A policy on the vhost of ``url`` for the queue named ``queue`` (JSON ``definition``, e.g. a length cap)."""
    vhost = url.rsplit("/", 1)[-1]
    _rabbitmqctl("set_policy", "-p", vhost, name, f"^{queue}$", definition, "--apply-to", "queues")
