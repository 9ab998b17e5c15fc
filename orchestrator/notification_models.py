"""Notification rules and their deliveries (``orchestrator.models`` re-exports both).

A ``NotificationRule`` says which events (``NotificationEvent``) reach which target, optionally
scoped to one schedule (by name), one job (by key) or one tenant; empty scope means all. The
orchestrator knows nothing of schedules: a scope is matched against what the event carries.

A ``Notification`` is one delivery: unique per (rule, event, subject), where the subject is the
run id (``run_failed``, ``run_timed_out``, ``run_overdue``) or the occurrence
(``run_missed``: ``<schedule id>@<scheduled_for>``; ``schedule_paused``: ``<schedule id>@<paused_at>``).
Routing inserts with ``ON CONFLICT DO NOTHING``, so several beats or workers seeing the same
event make one row; delivery claims the row with a compare-and-set and a lease
(``orchestrator.notification_delivery``), so a sent row is never sent again.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from orchestrator import constraints


class NotificationEvent(models.TextChoices):
    RUN_FAILED = "run_failed", "run failed"
    RUN_TIMED_OUT = "run_timed_out", "run timed out"
    RUN_MISSED = "run_missed", "occurrence missed"
    RUN_OVERDUE = "run_overdue", "run overdue"
    SCHEDULE_PAUSED = "schedule_paused", "schedule paused"


#: What a "send test" delivery is called (never an event a rule subscribes to).
TEST_EVENT = "notification_test"


class Channel(models.TextChoices):
    WEBHOOK = "webhook", "webhook (signed JSON POST)"
    EMAIL = "email", "email"


class NotificationRule(constraints.LockedOnEdit, models.Model):
    """Which events reach which target. ``secret`` is write-only at every door: never shown again."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    events = models.JSONField(default=list, help_text="Any of: " + ", ".join(NotificationEvent.values) + ".")
    schedule = models.CharField(max_length=200, blank=True, help_text="Only this schedule (by name); empty: all.")
    job = models.CharField(max_length=200, blank=True, help_text="Only runs of this job (by key); empty: all.")
    tenant = models.CharField(max_length=100, blank=True, help_text="Only this tenant's schedules; empty: all.")
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.WEBHOOK)
    target = models.TextField(help_text="The webhook's http(s) URL, or email addresses separated by commas.")
    secret = models.CharField(
        max_length=200,
        blank=True,
        help_text="Signs each webhook body (X-Ostinato-Signature: sha256=HMAC). Write-only: never shown again.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def matches(self, *, event: str, schedule: str, job: str, tenant: str) -> bool:
        """Whether an event with these attributes is for this rule (no database access)."""
        return (
            self.enabled
            and event in (self.events or [])
            and (not self.schedule or self.schedule == schedule)
            and (not self.job or self.job == job)
            and (not self.tenant or self.tenant == tenant)
        )

    def addresses(self) -> list[str]:
        return [part.strip() for part in self.target.replace(";", ",").split(",") if part.strip()]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SENDING = "sending", "sending"
    SENT = "sent", "sent"
    FAILED = "failed", "failed"


class Notification(models.Model):
    """One delivery of one event to one rule's target; exactly one per (rule, event, subject)."""

    rule = models.ForeignKey(NotificationRule, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    #: The run id, or the occurrence (see the module docstring): what makes a delivery unique.
    subject = models.CharField(max_length=200)
    #: The run notified about (none for a missed occurrence or a pause). No database constraint and
    #: nothing done when the run is deleted: a delivery's history outlives a run removed by retention
    #: (read ``run_id``; ``run`` raises once the run is gone).
    run = models.ForeignKey(
        "orchestrator.Run",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="notifications",
    )
    schedule = models.CharField(max_length=200, blank=True)
    #: The JSON body as built when the event was routed: every attempt sends the same bytes.
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    #: While ``pending``: not to be tried before this (a retry's backoff).
    next_attempt_at = models.DateTimeField()
    #: When its delivery task was last sent to the broker (the sweep republishes a lost one).
    published_at = models.DateTimeField(null=True, blank=True)
    #: While ``sending``: the claim lapses at this time (a worker killed mid-delivery), and the row is tried again.
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "event", "subject"], name="notification_once_per_subject"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="notification_open_idx",
                condition=Q(status__in=["pending", "sending"]),
            ),
            models.Index(fields=["-created_at"], name="notification_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.rule_id} ({self.status})"
