"""A test-only Django app holding ``django.tasks`` Tasks (the ``django-tasks`` backport's).

A job of kind ``django_task`` is a Task in a module of an installed app, and the test suite's own
modules are in none. This app is installed only where the tests of that kind need it: the db
tier adds it with ``settings.INSTALLED_APPS`` (``tests/db/test_django_task_jobs.py``), the live
tier's processes run with ``tests.settings_django_tasks``. The standalone project never has it.
"""
