"""What the billing tasks did: one row each time one of them ran."""

from django.db import models


class InvoiceBatch(models.Model):
    """One call of ``send_invoices``."""

    customer_id = models.IntegerField()
    dry_run = models.BooleanField()
    task_id = models.CharField(max_length=255)  # the Celery request's id
    app_name = models.CharField(max_length=100)  # the Celery app the task ran in
    created_at = models.DateTimeField(auto_now_add=True)


class PaymentSync(models.Model):
    """One call of ``sync_payments``: an attempt, successful or about to be retried."""

    provider = models.CharField(max_length=100)
    task_id = models.CharField(max_length=255)
    retries = models.PositiveIntegerField()  # the attempts before this one
    outcome = models.CharField(max_length=20)  # "synced" or "retrying"
    app_name = models.CharField(max_length=100)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
