"""Delivering one ``Notification``: claim it, send it once, record the outcome (the task's body).

Exactly once per row, also when a worker is killed mid-delivery:

* **claim** is a compare-and-set: ``pending`` and due, or ``sending`` with a lapsed lease, becomes
  ``sending`` with ``attempts + 1`` and a lease (``lease_until``) longer than an attempt can take.
  A duplicate message, or a second worker, finds nothing to claim and stops;
* **sent** is recorded only by the holder of that attempt (``status = sending AND attempts = n``),
  and a ``sent`` row is never claimed again;
* a worker that dies holding the claim leaves a ``sending`` row whose lease lapses; a beat's
  maintenance republishes it (``notifications.republish_stale``) and the next claim tries again.

Had the dead worker's POST reached the endpoint before it died, the endpoint sees that delivery
twice: HTTP offers no better, so every attempt carries the row's id in ``X-Ostinato-Delivery`` for
the receiver to drop a repeat. A failed attempt is retried with exponential backoff
(``SCHEDULER_NOTIFY_BACKOFF_SECONDS`` doubling, at most ``…_MAX_SECONDS``) until
``SCHEDULER_NOTIFY_MAX_ATTEMPTS``; then the row is ``failed`` with its last error.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F, Q

from orchestrator import events, webhooks
from orchestrator.notification_models import TEST_EVENT, Channel, DeliveryStatus, Notification, NotificationRule
from orchestrator.notifications import Alert, payload

logger = logging.getLogger(__name__)

#: What a lease allows beyond the attempts' timeouts (reading the row, writing the outcome).
LEASE_MARGIN_SECONDS = 10.0


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """What one call of ``deliver`` did: ``claimed`` False means another holder has the row (or it is done)."""

    claimed: bool
    status: str = ""
    error: str = ""
    #: Set when the row is due again: publish its task this many seconds later.
    retry_in_seconds: float | None = None


def body_bytes(data: Any) -> bytes:
    """The exact bytes POSTed and signed: compact, keys sorted (the same on every attempt)."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def deliver(notification_id: int, *, now: datetime) -> Attempt:
    """Make one attempt at delivering row ``notification_id``, if it is to be tried at ``now``."""
    timeout = float(settings.SCHEDULER_NOTIFY_TIMEOUT_SECONDS)
    lease = timedelta(seconds=timeout * (webhooks.MAX_REDIRECTS + 1) + LEASE_MARGIN_SECONDS)
    claimable = Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=DeliveryStatus.SENDING, lease_until__lt=now
    )
    claimed = Notification.objects.filter(claimable, pk=notification_id).update(
        status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, lease_until=now + lease
    )
    if not claimed:
        logger.debug("notification %s: nothing to deliver (done, not due, or held)", notification_id)
        return Attempt(claimed=False)
    row = Notification.objects.select_related("rule").get(pk=notification_id)
    try:
        _send(row, row.rule, timeout_seconds=timeout)
    except Exception as exc:  # every failure of one attempt is recorded, never raised into the worker
        return _failed(row, _error_text(exc), now=now)
    return _sent(row, now=now)


def send_test(rule: NotificationRule, *, now: datetime) -> Notification:
    """The admin's "send test": one delivery of a test notification, attempted now, its row returned."""
    alert = Alert(event=TEST_EVENT, subject=f"test:{uuid.uuid4()}", at=now, details={"message": "a test"})
    row = Notification.objects.create(
        rule=rule,
        event=TEST_EVENT,
        subject=alert.subject,
        payload=payload(alert, rule=rule.name, test=True),
        created_at=now,
        next_attempt_at=now,
        published_at=now,
    )
    deliver(row.pk, now=now)
    row.refresh_from_db()
    return row


def _send(row: Notification, rule: NotificationRule, *, timeout_seconds: float) -> None:
    if rule.channel == Channel.EMAIL:
        _email(row, rule)
        return
    body = body_bytes(row.payload)
    headers = {webhooks.EVENT_HEADER: row.event, webhooks.DELIVERY_HEADER: str(row.pk)}
    if rule.secret:
        headers[webhooks.SIGNATURE_HEADER] = webhooks.sign(rule.secret, body)
    webhooks.post(
        rule.target, body, headers=headers, timeout_seconds=timeout_seconds,
        ca_file=str(settings.SCHEDULER_NOTIFY_CA_FILE or ""),
    )  # fmt: skip


def _email(row: Notification, rule: NotificationRule) -> None:
    data = row.payload
    schedule = (data.get("schedule") or {}).get("name") if isinstance(data.get("schedule"), dict) else None
    subject = f"[ostinato] {row.event}" + (f": {schedule}" if schedule else "")
    lines = [f"{key}: {value}" for key, value in sorted(data.items()) if value is not None and key != "schedule"]
    if schedule:
        lines.insert(0, f"schedule: {schedule}")
    send_mail(subject[:200], "\n".join(lines) + "\n", None, rule.addresses(), fail_silently=False)


def _sent(row: Notification, *, now: datetime) -> Attempt:
    recorded = Notification.objects.filter(pk=row.pk, status=DeliveryStatus.SENDING, attempts=row.attempts).update(
        status=DeliveryStatus.SENT, sent_at=now, lease_until=None, last_error=""
    )
    if not recorded:  # the lease lapsed meanwhile and another attempt holds the row
        logger.warning("notification %s sent, but its claim had lapsed", row.pk, extra=_extra(row))
        return Attempt(claimed=True, status=DeliveryStatus.SENDING)
    events.emit([_event(row, events.NOTIFICATION_SENT, attempts=row.attempts)])
    logger.info(
        "notification %s (%s) sent to rule %s",
        row.pk,
        row.event,
        row.rule.name,
        extra=_extra(row, events.NOTIFICATION_SENT),
    )
    return Attempt(claimed=True, status=DeliveryStatus.SENT)


def _failed(row: Notification, error: str, *, now: datetime) -> Attempt:
    attempts = row.attempts
    held = Notification.objects.filter(pk=row.pk, status=DeliveryStatus.SENDING, attempts=attempts)
    if attempts < int(settings.SCHEDULER_NOTIFY_MAX_ATTEMPTS):
        base = float(settings.SCHEDULER_NOTIFY_BACKOFF_SECONDS)
        delay = min(base * 2 ** (attempts - 1), float(settings.SCHEDULER_NOTIFY_BACKOFF_MAX_SECONDS))
        held.update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now + timedelta(seconds=delay),
            published_at=now,
            lease_until=None,
            last_error=error,
        )
        logger.warning(
            "notification %s attempt %d failed: %s; retrying in %gs", row.pk, attempts, error, delay, extra=_extra(row)
        )
        return Attempt(claimed=True, status=DeliveryStatus.PENDING, error=error, retry_in_seconds=delay)
    if held.update(status=DeliveryStatus.FAILED, lease_until=None, last_error=error):
        events.emit([_event(row, events.NOTIFICATION_FAILED, attempts=attempts, error=error)])
    logger.error("notification %s failed after %d attempts: %s", row.pk, attempts, error, extra=_extra(row))
    return Attempt(claimed=True, status=DeliveryStatus.FAILED, error=error)


def _error_text(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, webhooks.DeliveryError) else f"{type(exc).__name__}: {exc}"
    return text[:500]


def _event(row: Notification, name: str, *, attempts: int, error: str = "") -> dict[str, Any]:
    """The event-log line: which rule, which event and subject; never the target's secret."""
    event: dict[str, Any] = {
        "event": name,
        "notification_id": row.pk,
        "rule": row.rule.name,
        "channel": row.rule.channel,
        "notified": row.event,
        "attempts": attempts,
    }
    if row.run_id:
        event["run_id"] = str(row.run_id)
    if row.schedule:
        event["schedule"] = row.schedule
    if error:
        event["error"] = error
    return event


def _extra(row: Notification, name: str = events.NOTIFICATION_FAILED) -> dict[str, Any]:
    extra: dict[str, Any] = {"event": name, "notification_id": row.pk, "notified": row.event}
    if row.run_id:
        extra["run_id"] = str(row.run_id)
    return extra
