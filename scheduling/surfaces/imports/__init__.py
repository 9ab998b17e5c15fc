"""Bringing the schedules a host already has: django-celery-beat's rows and the Celery app's ``beat_schedule``.

* ``celery_beat``: ``manage.py import_celery_beat`` reads django-celery-beat's tables with SQL
  (whether or not ``django_celery_beat`` is installed here) and makes one schedule per
  ``PeriodicTask`` (``source="celery_beat"``); ``--disable-source`` hands them over.
* ``beat_schedule``: ``manage.py sync_beat_schedule`` (and every beat, at start) makes one
  schedule per ``beat_schedule`` entry (``source="code"``).

What both share: ``cron_fields`` (Celery's crontab fields as our cron), ``mapping`` (tasks,
arguments, intervals, message options: what maps, what is refused, what is dropped and said),
``apply`` (validation by the one schedule input, the writes in bulk) and ``report`` (what they say
back, row by row). Nothing is half-imported: an entry that cannot be mapped is skipped with its
reason, and everything else is written in one transaction.
"""
