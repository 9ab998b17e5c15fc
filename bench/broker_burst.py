"""``--only burst-brokers``: the burst (N schedules all due at one instant) published to Redis and to RabbitMQ.

One beat process each time, the same seed and the same code; only the broker differs. With Redis
as the broker the runs go out on the direct path (one pipelined ``LPUSH`` per queue); with
RabbitMQ (``BROKER_URL``, a vhost of this run's own, made and deleted here) on Celery's path
(``amqp.send_task_message`` in kombu's ``Producer.batch``). Each side is verified by counting:
N runs ``queued`` and N messages waiting in the broker's queue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import stats
from bench.beat_steps import two_beats
from bench.driver import fmt_ratio
from tests.brokers import rabbitmq_vhost


def burst_brokers_step(say: Callable[[str], None], env: dict[str, str], n: int) -> dict[str, Any]:
    slot = env["REDIS_URL"].rsplit("/", 1)[-1]
    found: dict[str, Any] = {}
    with rabbitmq_vhost(f"ostinato-bench-s{slot}") as rabbitmq_url:
        for broker, broker_env in (("redis", env), ("rabbitmq", {**env, "BROKER_URL": rabbitmq_url})):
            result = two_beats(broker_env, n, 1, verify="verify-counts")
            found[broker] = result
            say(
                f"  {broker:<8} N={n:,}: {result['rate']:,.0f} runs/s ({result['seconds']:.2f} s), "
                f"{result['queued']:,} queued, {result['in_broker']:,} messages in the broker"
            )
            if result["queued"] != n or result["in_broker"] != n:
                raise SystemExit(f"error: the {broker} burst did not publish each of the {n:,} runs once")
    found["redis_over_rabbitmq"] = stats.ratio(found["redis"]["rate"], found["rabbitmq"]["rate"])
    say(f"    Redis vs RabbitMQ at N={n:,}: {fmt_ratio(found['redis_over_rabbitmq'])} the rate")
    return found
