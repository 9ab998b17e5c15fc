"""System checks name what a host project left out: an app the scheduler needs, our beat on its Celery app."""

from __future__ import annotations

from django.conf import settings
from django.test import override_settings

from orchestrator.connections import celery_app
from scheduling.checks import check_installation
from tests import brokers


def _ids(messages):
    return sorted((message.id, message.msg.split(" ")[0]) for message in messages)


def test_the_standalone_project_passes():
    assert check_installation(None) == []


def test_a_missing_app_is_an_error_naming_it():
    without = [app for app in settings.INSTALLED_APPS if app not in ("drf_spectacular_sidecar", "rest_framework")]
    with override_settings(INSTALLED_APPS=without):
        found = check_installation(None)
    assert _ids(found) == [("scheduling.E004", "'drf_spectacular_sidecar'"), ("scheduling.E004", "'rest_framework'")]
    assert any("Add 'rest_framework' to INSTALLED_APPS" in (message.hint or "") for message in found)


def test_a_celery_app_whose_beat_is_not_ours_is_warned_about():
    conf = celery_app().conf
    ours = conf.beat_scheduler
    try:
        conf.beat_scheduler = "celery.beat:PersistentScheduler"
        found = check_installation(None)
    finally:
        conf.beat_scheduler = ours
    assert [message.id for message in found] == ["scheduling.W004"]
    assert "scheduling.beat:Scheduler" in (found[0].hint or "")


def test_rabbitmq_without_publisher_confirms_is_warned_about():
    conf = celery_app().conf
    options = conf.broker_transport_options
    with brokers.celery_broker("amqp://guest:guest@127.0.0.1:5672/unused"):
        assert check_installation(None) == [], "the standalone project confirms its publishes"
        try:
            conf.broker_transport_options = {key: value for key, value in options.items() if key != "confirm_publish"}
            found = check_installation(None)
        finally:
            conf.broker_transport_options = options
    assert [message.id for message in found] == ["scheduling.W005"]
    assert 'broker_transport_options["confirm_publish"] = True' in (found[0].hint or "")
