"""The doors: everything through which people and tools change schedules or look at them.

One schedule input (``schedule_input``: fields and validation the admin form, the API serializer
and YAML sync share), the actions every door calls (``actions``), the schedule form and its
preview (``forms``), the ``/schedules/`` pages (``views``), the REST API (``api``), YAML sync
(``yaml_sync``), the schedules a host already has (``imports``: django-celery-beat's rows and the
Celery app's ``beat_schedule``), the rows the lists and the CLIs show (``rows``), schedules in words
(``describe``), the admin's classes (``admin_*``) and ``celery -A project schedules``.
"""
