"""System checks for the language-model settings (no network: the guard resolves at call time)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from orchestrator.checks import check_llm


def ids(**overrides):
    with override_settings(**overrides):
        return [message.id for message in check_llm(None)]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"LLM_BASE_URL": None}, []),
        ({"LLM_BASE_URL": "http://127.0.0.1:8080/v1"}, []),
        ({"LLM_BASE_URL": "http://localhost:11434/v1"}, []),
        ({"LLM_BASE_URL": "http://[::1]:8080/v1"}, []),
        ({"LLM_BASE_URL": "127.0.0.1:8080"}, ["orchestrator.E002"]),
        ({"LLM_BASE_URL": "http://127.0.0.1:notaport/v1"}, ["orchestrator.E002"]),
        ({"LLM_BASE_URL": "http://gpu-box.lan/v1"}, ["orchestrator.W002"]),
        ({"LLM_BASE_URL": "http://gpu-box.lan/v1", "LLM_ALLOWED_HOSTS": ["gpu-box.lan"]}, []),
        ({"LLM_BASE_URL": "http://10.1.2.3/v1", "LLM_ALLOWED_HOSTS": ["10.1.0.0/16"]}, []),
        ({"LLM_BASE_URL": None, "LLM_MAX_RETRIES": 50}, ["orchestrator.W003"]),
    ],
)
def test_llm_settings_are_checked(overrides, expected):
    assert ids(**overrides) == expected
