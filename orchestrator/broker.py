"""Publishing run messages to the broker, by task name, in one pipelined batch.

Nothing imports ``workers``: the run task is addressed by ``RUN_TASK_NAME`` through the Celery
app (``orchestrator.connections.celery_app``). Callers publish only after the runs are committed,
and a failed batch leaves the runs ``pending`` for the recovery step; the worker's
compare-and-set on ``(run, attempt)`` makes a duplicate delivery harmless.

On the standard setup (the broker is the Redis of ``orchestrator.connections.redis_url``, JSON,
task protocol 2, no publish signals, no sent events) the messages are written straight to the
queues' Redis lists, one ``LPUSH`` of many messages per queue and chunk, in the same pipeline as
their in-flight notes: a beat sending thousands at once spent ~170 µs of Python per message in
Celery's and kombu's per-call option handling (bench/results), this costs ~15 µs. The message is
Celery's own: the headers that are the same for every run are taken once per process from
``amqp.create_task_message``, and a test
(``tests/db/test_publish_wire.py``) pins every field against what ``send_task`` writes
for the same run, so a Celery or kombu upgrade that changes the format fails there first. Any
other setup takes Celery's path: ``amqp.send_task_message`` inside kombu's ``Producer.batch``; on
RabbitMQ on a channel in confirm mode whose confirms are awaited once per batch
(``orchestrator.amqp_confirms``), so a run stays queued only once the broker has its message (a failed
batch puts its runs back to pending; they are marked queued just before the publish, see
``orchestrator.publishing.publish_runs``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from orchestrator import amqp_confirms, connections, ids, keys, tracing
from orchestrator.errors import PublishError, SchedulerError

logger = logging.getLogger(__name__)

RUN_TASK_NAME = "workers.run"
#: Redis commands buffered per pipeline round trip.
PIPELINE_SIZE = 500
#: RabbitMQ: the longest a batch's publisher confirms (``orchestrator.amqp_confirms``) or, elsewhere on
#: Celery's path with ``confirm_publish``, one message's confirm is awaited.
CONFIRM_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, kw_only=True, slots=True)
class RunMessage:
    run_id: uuid.UUID
    attempt: int
    queue: str
    task_id: str
    timeout_seconds: int
    label: str
    job_key: str
    #: The job's kind: a host task's runs carry the task's own name (``shadow_of``).
    kind: str = "function"
    #: The W3C trace context of the message's publish span, sent as the ``traceparent`` header (tracing on).
    traceparent: str = ""


def task_id_for(run_id: uuid.UUID | str, attempt: int) -> str:
    """The Celery task id of a run's attempt: stable, so re-publishing the same attempt reuses it."""
    return f"{run_id}" if attempt == 0 else f"{run_id}.{attempt}"


def publish(messages: Sequence[RunMessage]) -> None:
    """Send every message, pipelined; raises ``PublishError`` when the batch may not have gone out."""
    if not messages:
        return
    try:
        wire = _direct_wire()
        if wire is not None:
            _publish_direct(wire, messages)
            return
        _publish_with_celery(messages)
    except Exception as exc:  # the broker's and the driver's errors differ by transport
        raise PublishError([str(m.run_id) for m in messages], f"{type(exc).__name__}: {exc}") from exc
    _mark_in_flight(messages)


def _publish_with_celery(messages: Sequence[RunMessage]) -> None:
    from django.conf import settings

    app = connections.celery_app()
    margin = float(settings.SCHEDULER_HARD_TIMEOUT_MARGIN_SECONDS)
    with app.producer_or_acquire() as producer:
        if amqp_confirms.applies(producer.connection):
            _publish_confirmed(app, producer.connection, messages, margin=margin)
            return
        batch = producer.batch(max_size=PIPELINE_SIZE) if producer.supports_batch_publish else None
        with batch or contextlib.nullcontext():
            _send_all(app, producer, messages, margin=margin)


def _publish_confirmed(app: Any, connection: Any, messages: Sequence[RunMessage], *, margin: float) -> None:
    """RabbitMQ: every message on a confirm-mode channel of the batch's own, then every confirm awaited once."""
    with amqp_confirms.confirmed_batch(connection, timeout_seconds=CONFIRM_TIMEOUT_SECONDS) as confirmed:
        _send_all(app, app.amqp.Producer(confirmed.channel, auto_declare=False), messages, margin=margin)
        confirmed.wait()


def _send_all(app: Any, producer: Any, messages: Sequence[RunMessage], *, margin: float) -> None:
    for message in messages:
        if message.traceparent:
            with tracing.attached(message.traceparent):
                _send_with_celery(app, producer, message, margin=margin)
            continue
        _send_with_celery(app, producer, message, margin=margin)


def _send_with_celery(app: Any, producer: Any, message: RunMessage, *, margin: float) -> None:
    """One message through Celery's own path (its ``traceparent``, if any, as a header)."""
    amqp = app.amqp
    task_message = amqp.create_task_message(
        message.task_id,
        RUN_TASK_NAME,
        [str(message.run_id), message.attempt],
        {},
        argsrepr=message.label,
        kwargsrepr="{}",
        shadow=shadow_of(message),
        soft_time_limit=message.timeout_seconds,
        time_limit=message.timeout_seconds + margin,
        # the run's outcome is its row; without this header (which defaults to
        # False here, unlike ``send_task``) the worker writes a result row per run
        ignore_result=True,
    )
    amqp.send_task_message(
        producer,
        RUN_TASK_NAME,
        task_message,
        exchange="",
        routing_key=message.queue,
        queue=message.queue,
        retry=False,
        # The default exchange routes by queue name, but RabbitMQ drops what is sent to a queue
        # that does not exist yet (no worker declared it): declare it as Celery's workers do
        # (its type and arguments, e.g. a quorum queue), once per connection (kombu caches it).
        declare=[amqp.queues[message.queue]],
        headers={"traceparent": message.traceparent} if message.traceparent else None,
        confirm_timeout=CONFIRM_TIMEOUT_SECONDS,  # a broker that stops confirming (an alarm) fails the batch
    )


def shadow_of(message: RunMessage) -> str:
    """The task name workers show for the run: ``workers.run:<job>``, one per job, never one per run; a
    host task's own name (``billing.tasks.send_invoices``) for a run of a Celery task or ``django.tasks`` Task.

    A worker counts the tasks it accepted by this name for as long as it lives (``inspect stats``,
    ``total``): a name unique to each run grew that count by an entry per run, which nothing
    removes. The run itself is in the task id and in ``argsrepr`` (``inspect``'s ``args``).
    """
    if message.kind != "function":
        return message.job_key
    return f"{RUN_TASK_NAME}:{message.job_key}"


@dataclass(frozen=True, kw_only=True)
class Wire:
    """What every run message this process writes shares, as JSON text cut around the per-run fields.

    The envelope is what kombu's Redis transport writes: ``body`` (base64 of the JSON
    ``[args, kwargs, embed]``), content type and encoding, Celery's ``headers`` and the
    ``properties`` (delivery mode, priority, delivery info and tag). Only the run's ids, labels,
    time limits, queue and delivery tag differ between messages, so the rest is encoded once
    here and each message costs a few string joins instead of a JSON encoding of the whole.
    """

    headers: str  # Celery's constant headers, JSON object members without braces
    properties: str  # the constant properties, likewise
    embed: str  # the body's third part (callbacks, chain, ...), as JSON


#: Header and property keys that differ between run messages; the rest come from Celery once.
_PER_MESSAGE = frozenset({"id", "root_id", "shadow", "argsrepr", "timelimit", "correlation_id"})


@cache
def _standard_wire() -> Wire | None:
    """The constant parts of a run message, when Celery's configuration allows writing them directly."""
    from urllib.parse import urlsplit

    app = connections.celery_app()
    conf = app.conf
    if (
        urlsplit(str(conf.broker_url)).scheme not in connections.REDIS_SCHEMES
        or (conf.broker_transport_options or {}).get("global_keyprefix")
        or conf.task_serializer != "json"
        or int(conf.task_protocol) != 2
        or conf.task_compression
        or conf.task_send_sent_event
        or conf.task_default_delivery_mode not in ("persistent", 2)
        or conf.task_default_priority
    ):
        return None
    sample = app.amqp.create_task_message(
        "sample",
        RUN_TASK_NAME,
        ["sample", 0],
        {},
        argsrepr="",
        kwargsrepr="{}",
        shadow="",
        soft_time_limit=1,
        ignore_result=True,  # as ``_publish_with_celery``: no result row per run
    )
    _, _, embed = sample.body
    headers = {key: value for key, value in sample.headers.items() if key not in _PER_MESSAGE}
    properties = {key: value for key, value in sample.properties.items() if key not in _PER_MESSAGE}
    properties.update(delivery_mode=2, priority=0, body_encoding="base64")
    return Wire(
        headers=json.dumps(headers)[1:-1],
        properties=json.dumps(properties)[1:-1],
        embed=json.dumps(embed),
    )


def _direct_wire() -> Wire | None:
    """``_standard_wire()`` when this publish may be written directly (checked per batch), else None."""
    from celery import signals

    if signals.before_task_publish.receivers or signals.after_task_publish.receivers:
        return None  # someone listens for publishes: only Celery's path sends those signals
    if not broker_is_our_redis():
        return None  # our Redis client would not reach the broker's database
    return _standard_wire()


def broker_is_our_redis() -> bool:
    """Whether the broker is the very Redis server and database ``connections.redis_client`` talks to.

    With Sentinels, both must name the same Sentinels, database and master: our client then asks
    them for the master on each new connection, as kombu's does, so after a failover both write
    to the promoted replica (a demoted primary answers ``READONLY``, which drops the connection).
    """
    from urllib.parse import urlsplit

    conf = connections.celery_app().conf
    broker = str(conf.broker_url or "")
    if urlsplit(broker).scheme == "redis+socket":
        broker = connections.redis_py_url(broker)
    try:
        if broker != connections.redis_url():
            return False
        if connections.is_sentinel_url(broker):
            return connections.sentinel_master_name() == (conf.broker_transport_options or {}).get("master_name")
        return True
    except SchedulerError:  # no Redis configured at all: Celery's own path
        return False


def encode(wire: Wire, message: RunMessage, *, margin: float) -> bytes:
    """The Redis list entry kombu's Redis transport would write for ``message`` (see ``Wire``).

    ``margin``: the hard time limit is the soft one (the job's timeout) plus this many seconds.
    """
    task_id = _quote(message.task_id)
    body = f'[["{message.run_id}", {int(message.attempt)}], {{}}, {wire.embed}]'
    soft = int(message.timeout_seconds)
    return (
        f'{{"body": "{base64.b64encode(body.encode()).decode("ascii")}", "content-encoding": "utf-8", '
        f'"content-type": "application/json", "headers": {{{wire.headers}, "id": {task_id}, "root_id": {task_id}, '
        f'"shadow": {_quote(shadow_of(message))}, "argsrepr": {_quote(message.label)}, '
        f'"timelimit": [{float(soft + margin)!r}, {soft}]{_trace_header(message)}}}, '
        f'"properties": {{{wire.properties}, '
        f'"correlation_id": {task_id}, "delivery_info": {{"exchange": "", "routing_key": {_quote(message.queue)}}}, '
        f'"delivery_tag": "{ids.uuid4_text()}"}}}}'
    ).encode("ascii")


def _trace_header(message: RunMessage) -> str:
    """The ``traceparent`` header's member (tracing on), as Celery writes headers passed to ``send_task_message``."""
    return f', "traceparent": {_quote(message.traceparent)}' if message.traceparent else ""


def _publish_direct(wire: Wire, messages: Sequence[RunMessage]) -> None:
    """One pipeline: an ``LPUSH`` of up to ``PIPELINE_SIZE`` messages per queue, then the in-flight notes."""
    from django.conf import settings

    margin = float(settings.SCHEDULER_HARD_TIMEOUT_MARGIN_SECONDS)
    by_queue: dict[str, list[bytes]] = defaultdict(list)
    for message in messages:
        by_queue[message.queue].append(encode(wire, message, margin=margin))
    pipe = connections.redis_client().pipeline(transaction=False)
    for queue, entries in by_queue.items():
        for start in range(0, len(entries), PIPELINE_SIZE):
            # LPUSH of several values pushes them in order: the first message is the first taken (BRPOP)
            pipe.lpush(queue, *entries[start : start + PIPELINE_SIZE])
    pipe.zadd(keys.INFLIGHT, _in_flight_notes(messages))
    results = pipe.execute(raise_on_error=False)
    failed = [result for result in results[:-1] if isinstance(result, Exception)]
    if failed:
        raise failed[0]
    if isinstance(results[-1], Exception):
        logger.warning("could not note %d message(s) in flight: %s", len(messages), results[-1])


def _mark_in_flight(messages: Sequence[RunMessage]) -> None:
    """Note that these messages are in the broker; the worker removes a run's note when it takes it.

    If Redis loses its data (a restart without persistence), messages and notes go together, and
    ``lost_messages`` finds the queued runs whose note is gone. Best effort: a missing note only
    means the run is published once more, which executes once.
    """
    try:
        connections.redis_client().zadd(keys.INFLIGHT, _in_flight_notes(messages))
    except Exception as exc:  # Redis went away right after the publish
        logger.warning("could not note %d message(s) in flight: %s", len(messages), exc)


def _in_flight_notes(messages: Sequence[RunMessage]) -> dict[str, int]:
    """Each message's in-flight note: run id -> when it expires (ms), ``SCHEDULER_INFLIGHT_NOTE_SECONDS`` from now."""
    return dict.fromkeys((str(message.run_id) for message in messages), note_expiry_ms(time.time()))


def note_expiry_ms(noted_at: float) -> int:
    """The score of an in-flight note written at ``noted_at`` (epoch seconds): its expiry, epoch ms.

    A worker that took a message forgets only notes written before it did (scores up to this for
    its take time), so the note of the run's next attempt, published meanwhile, stays.
    """
    from django.conf import settings

    ttl_ms = int(settings.SCHEDULER_INFLIGHT_NOTE_SECONDS) * 1000
    return int(noted_at * 1000) + ttl_ms


def lost_messages(run_ids: Sequence[uuid.UUID | str]) -> list[str]:
    """Of these queued runs, those whose message is no longer in the broker (its note is gone)."""
    ids = [str(run_id) for run_id in run_ids]
    if not ids:
        return []
    redis = connections.redis_client()
    redis.zremrangebyscore(keys.INFLIGHT, "-inf", int(time.time() * 1000))  # expired notes
    scores = redis.zmscore(keys.INFLIGHT, ids)
    return [run_id for run_id, score in zip(ids, scores, strict=True) if score is None]
