"""The engine: the beat's work against the database and the broker.

``dispatch`` (claim due schedules, plan them with the pure core, write occurrences and runs,
advance, commit, publish) with its statements in ``store``; ``loop`` (the tick, bursts prepared
ahead) and ``beat`` (Celery beat's ``Scheduler``); ``maintenance`` (recovery, ``buffered``
releases, the hooks other apps add); ``heartbeat`` (who is dispatching). Reports are values
(``reports``); ``hooks`` lets other parts subscribe to them.
"""
