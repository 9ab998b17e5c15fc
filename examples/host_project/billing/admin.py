from django.contrib import admin

from billing.models import InvoiceBatch, PaymentSync


@admin.register(InvoiceBatch)
class InvoiceBatchAdmin(admin.ModelAdmin):
    list_display = ("customer_id", "dry_run", "task_id", "created_at")


@admin.register(PaymentSync)
class PaymentSyncAdmin(admin.ModelAdmin):
    list_display = ("provider", "outcome", "retries", "task_id", "started_at", "finished_at")
