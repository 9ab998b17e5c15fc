"""The site's billing tasks: plain Celery tasks, written before Ostinato and unchanged by it."""

import time

from celery import current_app, shared_task
from django.utils import timezone

from billing.models import InvoiceBatch, PaymentSync


class ProviderUnavailable(Exception):
    """The payment provider did not answer; worth trying again shortly."""


@shared_task
def send_invoices(customer_id, *, dry_run=False):
    """Send a customer's open invoices (with dry_run, only count them)."""
    InvoiceBatch.objects.create(
        customer_id=customer_id,
        dry_run=dry_run,
        task_id=send_invoices.request.id or "",
        app_name=current_app.main,
    )
    return {"customer_id": customer_id, "dry_run": dry_run}


@shared_task(bind=True, max_retries=3)
def sync_payments(self, provider, *, seconds=0.0, unavailable_once=False):
    """Pull settled payments from a provider; retried while the provider is unavailable.

    ``seconds`` is how long the provider takes to answer; with ``unavailable_once`` it does not
    answer the first attempt.
    """
    started = timezone.now()
    time.sleep(seconds)
    unavailable = unavailable_once and self.request.retries == 0
    PaymentSync.objects.create(
        provider=provider,
        task_id=self.request.id or "",
        retries=self.request.retries,
        outcome="retrying" if unavailable else "synced",
        app_name=self.app.main,
        started_at=started,
        finished_at=timezone.now(),
    )
    if unavailable:
        raise self.retry(countdown=0.5, exc=ProviderUnavailable(provider))
    return {"provider": provider, "retries": self.request.retries}
