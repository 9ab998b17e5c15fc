"""The site's Celery app: ``celery -A hostsite worker`` and ``celery -A hostsite beat``."""

import os

from celery import Celery
from celery.schedules import crontab

from workers import extensions

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hostsite.settings")

app = Celery("hostsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Ostinato's worker step and `celery -A hostsite inspect runs` (README, "Add it to your Django project").
extensions.install(app)

# What this site scheduled in code before Ostinato. Its beat (CELERY_BEAT_SCHEDULER) dispatches schedules
# from the database: at start it makes each entry one (source "code"; `manage.py sync_beat_schedule` does
# the same on demand), and from then on those rows are what runs.
app.conf.beat_schedule = {
    "invoices-nightly": {
        "task": "billing.tasks.send_invoices",
        "schedule": crontab(hour=2, minute=0),
        "args": (42,),
        "kwargs": {"dry_run": False},
    },
    "payments-every-15-minutes": {
        "task": "billing.tasks.sync_payments",
        "schedule": 15 * 60.0,
        "args": ("acme-pay",),
    },
}
