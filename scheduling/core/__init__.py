"""The pure core of scheduling: when schedules fire and what to do about it, as values.

Next fire times for cron, interval and one-off schedules in an IANA time zone (``timing``,
``cron``), jitter (``jitter``), catch-up enumeration and the plan of one claimed schedule
(``planning``), the misfire and overlap policies as frozen decisions (``policies``).

Nothing here imports Django, Celery, Redis or the rest of the project, and nothing reads the
clock: functions take ``now`` (or ``after``) and return aware UTC datetimes or frozen values.
``tests/unit/test_core_purity.py`` fails when a module here imports something it must not.
"""
