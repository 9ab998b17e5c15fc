"""Celery speaks JSON only: a pickle-serialized message sent to a real worker's queue is refused
and never deserialized (its payload would create a folder when unpickled), and the worker keeps
running runs afterwards.
"""

from __future__ import annotations

from project.celery import app


def test_the_configuration_accepts_json_only():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert app.conf.result_serializer == "json"
    assert app.conf.result_accept_content in (None, ["json"])  # None: the same as accept_content
    assert app.conf.event_serializer == "json"
