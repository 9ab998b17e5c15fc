"""The run messages the beat writes straight to Redis are the messages Celery itself would write.

``orchestrator.publish`` builds run messages without kombu's per-call machinery (see its module
doc). These tests hold it to Celery's own output for the installed Celery and kombu, field by
field, and check that it steps aside for setups it does not cover. A real worker running such
messages is covered by every end-to-end test (the spine, exactly-once, limits).
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from celery import signals

from orchestrator import broker
from orchestrator.broker import RunMessage
from orchestrator.errors import PublishError
from orchestrator.keys import INFLIGHT


def message(queue: str = "default", attempt: int = 0, label: str = "", traceparent: str = "") -> RunMessage:
    run_id = uuid.uuid4()
    return RunMessage(
        run_id=run_id,
        attempt=attempt,
        queue=queue,
        task_id=broker.task_id_for(run_id, attempt),
        timeout_seconds=900,
        label=label or f"(run={run_id}, job=noop, schedule='nightly \"é\"', trigger=schedule, attempt={attempt})",
        job_key="noop",
        traceparent=traceparent,
    )


def decoded(raw: bytes) -> dict[str, Any]:
    envelope = json.loads(raw)
    envelope["body"] = json.loads(base64.b64decode(envelope["body"]))
    return dict(envelope)


def test_a_direct_message_equals_the_one_celery_writes_for_the_same_run(settings, redis_db):
    wire = broker._direct_wire()
    assert wire is not None, "the test settings are the standard setup: the direct path must apply"
    margin = float(settings.SCHEDULER_HARD_TIMEOUT_MARGIN_SECONDS)
    traced = message(traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")  # tracing on
    for run in (message(), message(queue="heavy", attempt=3), traced):
        broker._publish_with_celery([run])
        theirs = decoded(redis_db.lpop(run.queue))
        ours = decoded(broker.encode(wire, run, margin=margin))
        for envelope in (theirs, ours):
            tag = envelope["properties"].pop("delivery_tag")
            assert uuid.UUID(tag)  # each message gets its own delivery tag
        assert ours == theirs
        assert ours["headers"]["id"] == run.task_id and ours["body"][0] == [str(run.run_id), run.attempt]


def test_publish_writes_every_message_in_order_and_notes_it_in_flight(redis_db):
    runs = [message(queue="default") for _ in range(broker.PIPELINE_SIZE + 7)] + [message(queue="heavy")]
    broker.publish(runs)
    assert redis_db.llen("default") == broker.PIPELINE_SIZE + 7 and redis_db.llen("heavy") == 1
    taken = [decoded(redis_db.rpop("default"))["headers"]["id"] for _ in range(broker.PIPELINE_SIZE + 7)]
    assert taken == [run.task_id for run in runs[:-1]], "consumers (BRPOP) take them in publishing order"
    assert redis_db.zcard(INFLIGHT) == len(runs)
    assert broker.lost_messages([run.run_id for run in runs]) == []


def test_the_hard_time_limit_follows_the_margin_setting_of_the_moment(settings, redis_db):
    broker.publish([message()])  # the constant parts are built and kept
    settings.SCHEDULER_HARD_TIMEOUT_MARGIN_SECONDS = 7
    run = message()
    broker.publish([run])
    sent = [decoded(raw) for raw in redis_db.lrange("default", 0, -1)]
    [mine] = [m for m in sent if m["headers"]["id"] == run.task_id]
    assert mine["headers"]["timelimit"] == [run.timeout_seconds + 7.0, run.timeout_seconds]


def test_a_redis_url_other_than_the_brokers_is_not_written_directly(settings):
    assert broker._direct_wire() is not None
    settings.SCHEDULER_REDIS_URL = "redis://127.0.0.1:6379/15"
    assert broker._direct_wire() is None, "our Redis client would write to another database than the broker's"


def test_a_publish_signal_receiver_sends_the_batch_through_celery(redis_db):
    seen: list[str] = []

    def receiver(sender: str | None = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
        seen.append((headers or {}).get("id", ""))

    signals.before_task_publish.connect(receiver, weak=False)
    try:
        runs = [message(), message()]
        broker.publish(runs)
    finally:
        signals.before_task_publish.disconnect(receiver)
    assert seen == [run.task_id for run in runs]
    assert redis_db.llen("default") == 2 and redis_db.zcard(INFLIGHT) == 2


@pytest.mark.parametrize(
    "setting, value",
    [("task_serializer", "yaml"), ("task_protocol", 1), ("task_compression", "gzip"), ("task_send_sent_event", True)],
)
def test_a_non_standard_celery_setup_is_not_written_directly(setting: str, value: Any):
    from project.celery import app

    before = app.conf[setting]
    broker._standard_wire.cache_clear()
    app.conf[setting] = value
    try:
        assert broker._standard_wire() is None
    finally:
        app.conf[setting] = before
        broker._standard_wire.cache_clear()
    assert broker._standard_wire() is not None


def test_a_broker_that_is_down_fails_the_batch_with_every_run_named(monkeypatch, redis_db):
    import redis

    from orchestrator import connections

    closed = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)  # nothing listens on port 1
    monkeypatch.setattr(connections, "redis_client", lambda: closed)
    runs = [message(), message()]
    with pytest.raises(PublishError) as raised:
        broker.publish(runs)
    assert sorted(raised.value.run_ids) == sorted(str(run.run_id) for run in runs)
    assert redis_db.llen("default") == 0
