"""The language-model client against a real OpenAI-compatible server on 127.0.0.1 (tests/llm_stub.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from orchestrator import guards, llm
from tests import llm_stub
from tests.llm_stub import Reply

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]


def client(base_url: str, **changes) -> llm.LLMClient:
    fields = {"base_url": base_url, "model": "configured-model", "max_retries": 2, "backoff_seconds": 0.05}
    return llm.LLMClient(llm.LLMConfig(**{**fields, **changes}))


def test_a_completion_returns_text_and_the_usage_figures():
    with llm_stub.running(
        Reply(content="hi there", model="served-model", prompt_tokens=123, completion_tokens=45)
    ) as s:
        result = client(s.base_url, api_key="sk-local", max_tokens=64).complete(MESSAGES)
    assert (result.text, result.model, result.prompt_tokens, result.completion_tokens) == (
        "hi there",
        "served-model",
        123,
        45,
    )
    assert "hi there" not in repr(result), "the text must not reach a log line through repr()"
    [request] = s.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "configured-model"
    assert request["body"]["messages"] == MESSAGES
    assert request["body"]["max_tokens"] == 64 and request["body"]["stream"] is False
    assert request["headers"]["Authorization"] == "Bearer sk-local"
    assert request["headers"]["Host"] == f"127.0.0.1:{s.port}"


def test_localhost_by_name_is_allowed():
    with llm_stub.running(Reply()) as s:
        result = client(f"http://localhost:{s.port}/v1").complete(MESSAGES)
    assert result.prompt_tokens == 11 and len(s.requests) == 1


def test_a_busy_server_is_retried_then_succeeds():
    with llm_stub.running(Reply(status=503), Reply(status=429), Reply(prompt_tokens=5, completion_tokens=2)) as s:
        result = client(s.base_url, max_retries=2).complete(MESSAGES)
    assert len(s.requests) == 3 and result.prompt_tokens == 5


def test_retries_are_bounded():
    with llm_stub.running(Reply(status=503)) as s, pytest.raises(llm.LLMUnavailable) as caught:
        client(s.base_url, max_retries=2).complete(MESSAGES)
    assert len(s.requests) == 3
    assert "3 attempt(s)" in str(caught.value) and "HTTP 503" in str(caught.value)
    assert "stub error" not in str(caught.value), "errors must not quote what the server sent"


def test_a_rejected_request_is_not_retried():
    with llm_stub.running(Reply(status=400)) as s, pytest.raises(llm.LLMResponseError, match="HTTP 400"):
        client(s.base_url).complete(MESSAGES)
    assert len(s.requests) == 1


def test_each_attempt_has_a_timeout():
    with llm_stub.running(Reply(delay_seconds=3.0)) as s, pytest.raises(llm.LLMUnavailable) as caught:
        client(s.base_url, timeout_seconds=0.3, max_retries=1).complete(MESSAGES)
    assert len(s.requests) == 2
    assert "timed out" in str(caught.value)


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (Reply(prompt_tokens=None, completion_tokens=None), "sent no usage figures"),
        (Reply(raw=b"<html>not json</html>"), "not JSON"),
        (Reply(raw=b'{"usage": {"prompt_tokens": -1, "completion_tokens": 2}}'), "usage.prompt_tokens"),
        (Reply(raw=b'{"usage": {"prompt_tokens": 1, "completion_tokens": 2}, "choices": []}'), "sent no choices"),
    ],
)
def test_unusable_responses_are_errors(reply, problem):
    with llm_stub.running(reply) as s, pytest.raises(llm.LLMResponseError, match=problem):
        client(s.base_url).complete(MESSAGES)


def test_the_stdlib_connection_is_refused_when_nothing_listens():
    with llm_stub.running() as s:
        port = s.port
    with pytest.raises(llm.LLMUnavailable, match="Connection refused"):
        client(f"http://127.0.0.1:{port}/v1", max_retries=0).complete(MESSAGES)


# --- the guard: refused before any connection is attempted --------------------------------------

_audit: list[tuple[str, object]] | None = None
_hooked = False


def _audit_hook(event: str, args: tuple[object, ...]) -> None:
    if _audit is not None and event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        _audit.append((event, args))


@pytest.fixture
def network_calls() -> Iterator[list[tuple[str, object]]]:
    """Every socket connect and name look-up this process makes while the test runs (Python audit events)."""
    global _audit, _hooked
    if not _hooked:
        sys.addaudithook(_audit_hook)  # audit hooks cannot be removed: it records only while _audit is set
        _hooked = True
    _audit = []
    try:
        yield _audit
    finally:
        _audit = None


@pytest.mark.parametrize(
    ("base_url", "resolves_to"),
    [
        ("http://203.0.113.7:8080/v1", None),
        ("http://[2001:db8::1]:8080/v1", None),
        ("https://llm.example.com/v1", ["93.184.216.34"]),
    ],
)
def test_a_non_loopback_host_is_refused_without_any_connection(network_calls, base_url, resolves_to):
    resolver = (lambda host, port: resolves_to) if resolves_to else guards.system_resolver
    refused = llm.LLMClient(llm.LLMConfig(base_url=base_url, model="m"), resolver=resolver)
    with pytest.raises(guards.HostNotAllowed) as caught:
        refused.complete(MESSAGES)
    assert "LLM_ALLOWED_HOSTS" in str(caught.value)
    assert network_calls == [], f"a connection or look-up was attempted: {network_calls}"


def test_the_audit_hook_does_see_a_real_connection(network_calls):
    with llm_stub.running() as s:
        client(s.base_url).complete(MESSAGES)
    assert any(event == "socket.connect" for event, _ in network_calls)
