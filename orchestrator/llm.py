"""A small client for a local, OpenAI-compatible chat-completions endpoint, with token accounting.

Local only: before any connection, the host of ``LLM_BASE_URL`` is resolved and refused unless
every address is loopback or the host is listed in ``LLM_ALLOWED_HOSTS`` (``guards.check_host``);
the connection then goes to the address that was checked, so a second DNS answer cannot redirect
it. Timeouts apply to every attempt and retries are bounded (``LLM_MAX_RETRIES``, backoff capped).

Counts only: ``chat(ctx, messages)`` records one ``LLMCall`` per call with the model and the
response's ``usage`` figures. Prompt and response text are never logged, never put into an
error message or an event, and never stored; ``Completion.text`` is left out of its ``repr`` so
it cannot reach a log line by accident. A job that wants the text in an artifact writes it there
itself, on purpose.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator import guards
from orchestrator.errors import SchedulerError

if TYPE_CHECKING:
    from orchestrator.context import RunContext

logger = logging.getLogger(__name__)

ALLOWED_HOSTS_SETTING = "LLM_ALLOWED_HOSTS"
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
MAX_BACKOFF_SECONDS = 10.0
#: Retries are bounded whatever LLM_MAX_RETRIES says (a system check reports a larger setting).
MAX_RETRIES_LIMIT = 10
#: Statuses worth another attempt: the server is busy or briefly broken, not the request wrong.
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})

Message = Mapping[str, str]


class LLMError(SchedulerError):
    """A language-model call that did not produce a completion. Messages never carry prompt or response text."""


class LLMNotConfigured(LLMError):
    def __init__(self) -> None:
        super().__init__("LLM_BASE_URL is not set: there is no language model to call")


class LLMUnavailable(LLMError):
    """The server could not be reached, timed out, or kept failing (after the bounded retries)."""

    def __init__(self, url: str, attempts: int, cause: str) -> None:
        self.url = url
        self.attempts = attempts
        self.cause = cause
        super().__init__(f"the language model at {url} failed {attempts} attempt(s); last: {cause}")


class LLMResponseError(LLMError):
    """The server answered, but not with a usable completion (a 4xx, malformed JSON, no usage figures)."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"the language model at {url} {problem}")


@dataclass(frozen=True, kw_only=True)
class LLMConfig:
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = ()
    timeout_seconds: float = 60.0
    max_retries: int = 2
    max_tokens: int = 512
    backoff_seconds: float = 0.5

    @property
    def endpoint(self) -> str:
        """``<base_url>/chat/completions`` (``LLM_BASE_URL`` includes ``/v1`` when the server wants it)."""
        return self.base_url.rstrip("/") + "/chat/completions"

    @classmethod
    def from_settings(cls) -> LLMConfig | None:
        """The configured model, or None when ``LLM_BASE_URL`` is unset."""
        from django.conf import settings

        if not settings.LLM_BASE_URL:
            return None
        return cls(
            base_url=settings.LLM_BASE_URL,
            model=settings.LLM_MODEL,
            api_key=settings.LLM_API_KEY,
            allowed_hosts=tuple(settings.LLM_ALLOWED_HOSTS),
            timeout_seconds=settings.LLM_TIMEOUT_SECONDS,
            max_retries=min(settings.LLM_MAX_RETRIES, MAX_RETRIES_LIMIT),
            max_tokens=settings.LLM_MAX_TOKENS,
        )


@dataclass(frozen=True, kw_only=True)
class Completion:
    """One completion. ``text`` is not in the repr: printing or logging a Completion shows counts only."""

    text: str = field(repr=False)
    model: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = ""


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to a checked address; the ``Host`` header still names the configured host."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address; the certificate is verified for the configured host name."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float, tls: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=tls)
        self._address = address
        self._tls = tls

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class LLMClient:
    def __init__(self, config: LLMConfig, *, resolver: guards.Resolver = guards.system_resolver) -> None:
        self.config = config
        self._allowed = guards.AllowedHosts.parse(config.allowed_hosts)
        self._resolver = resolver

    @classmethod
    def from_settings(cls) -> LLMClient:
        config = LLMConfig.from_settings()
        if config is None:
            raise LLMNotConfigured()
        return cls(config)

    def check(self) -> guards.AllowedTarget:
        """The guard alone: raises ``guards.HostNotAllowed`` for a host the client may not reach."""
        return guards.check_host(
            self.config.endpoint, allowed=self._allowed, setting=ALLOWED_HOSTS_SETTING, resolver=self._resolver
        )

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
    ) -> Completion:
        """Send a chat completion request; retry what is worth retrying, at most ``max_retries`` times."""
        target = self.check()  # before any connection is made
        body = json.dumps(
            {
                "model": self.config.model,
                "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
                "max_tokens": max_tokens or self.config.max_tokens,
                "temperature": temperature,
                "stream": False,
            }
        ).encode("utf-8")
        url = self.config.endpoint
        attempts = self.config.max_retries + 1
        last_cause = ""
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            retry_after: float | None = None
            try:
                status, headers, payload = self._post(target, body)
            except OSError as exc:
                last_cause = f"{type(exc).__name__}: {exc}"
            except http.client.HTTPException as exc:
                last_cause = type(exc).__name__  # its text may quote what the server sent
            else:
                if status == 200:
                    completion = self._parse(url, payload)
                    logger.info(
                        "language model call finished: %s, %d prompt + %d completion tokens",
                        completion.model,
                        completion.prompt_tokens,
                        completion.completion_tokens,
                        extra={
                            "event": "llm_call",
                            "duration_ms": int((time.monotonic() - started) * 1000),
                            "attempt": attempt,
                        },
                    )
                    return completion
                if status not in RETRY_STATUSES:
                    raise LLMResponseError(url, f"answered HTTP {status}; the request was not accepted")
                last_cause = f"HTTP {status}"
                retry_after = _retry_after_seconds(headers.get("Retry-After"))
            if attempt < attempts:
                delay = min(MAX_BACKOFF_SECONDS, retry_after or self.config.backoff_seconds * 2 ** (attempt - 1))
                logger.warning(
                    "language model call failed (%s); attempt %d of %d, retrying in %.1fs",
                    last_cause,
                    attempt,
                    attempts,
                    delay,
                    extra={"event": "llm_retry", "attempt": attempt},
                )
                time.sleep(delay)
        raise LLMUnavailable(url, attempts, last_cause)

    def _post(self, target: guards.AllowedTarget, body: bytes) -> tuple[int, Mapping[str, str], bytes]:
        timeout = self.config.timeout_seconds
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = _PinnedHTTPSConnection(
                target.host, target.port, address=target.address, timeout=timeout, tls=ssl.create_default_context()
            )
        else:
            connection = _PinnedHTTPConnection(target.host, target.port, address=target.address, timeout=timeout)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read(MAX_RESPONSE_BYTES + 1)
            return response.status, {k: v for k, v in response.getheaders()}, payload
        finally:
            connection.close()

    def _parse(self, url: str, payload: bytes) -> Completion:
        if len(payload) > MAX_RESPONSE_BYTES:
            raise LLMResponseError(url, f"sent a response larger than {MAX_RESPONSE_BYTES} bytes")
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise LLMResponseError(url, "sent a response that is not JSON") from None
        if not isinstance(data, dict):
            raise LLMResponseError(url, "sent JSON that is not an object")
        usage = data.get("usage")
        if not isinstance(usage, dict):
            raise LLMResponseError(url, "sent no usage figures; token accounting needs usage.prompt_tokens")
        counts: dict[str, int] = {}
        for name in ("prompt_tokens", "completion_tokens"):
            value = usage.get(name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise LLMResponseError(url, f"sent usage.{name} that is not a non-negative integer")
            counts[name] = value
        choices = data.get("choices")
        first: Any = choices[0] if isinstance(choices, list) and choices else None
        message = first.get("message") if isinstance(first, dict) else None
        if not isinstance(message, dict):
            raise LLMResponseError(url, "sent no choices[0].message")
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise LLMResponseError(url, "sent choices[0].message.content that is not a string")
        model = data.get("model")
        if not isinstance(model, str) or not 1 <= len(model) <= 200:
            model = self.config.model
        finish = first.get("finish_reason") if isinstance(first, dict) else None
        return Completion(
            text=content or "",
            model=model,
            prompt_tokens=counts["prompt_tokens"],
            completion_tokens=counts["completion_tokens"],
            finish_reason=finish if isinstance(finish, str) else "",
        )


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: fall back to the backoff
    return seconds if seconds >= 0 else None


def chat(
    ctx: RunContext,
    messages: Sequence[Message],
    *,
    client: LLMClient | None = None,
    max_tokens: int | None = None,
    temperature: float = 0.0,
) -> Completion:
    """Call the configured model for the run of ``ctx`` and record the call's token counts on the run.

    Raises ``LLMNotConfigured`` when ``LLM_BASE_URL`` is unset, ``guards.HostNotAllowed`` for a
    host outside loopback and ``LLM_ALLOWED_HOSTS`` (no connection is made), ``LLMUnavailable`` and
    ``LLMResponseError`` when no usable completion came back (nothing is recorded then).
    """
    client = client or LLMClient.from_settings()
    completion = client.complete(messages, max_tokens=max_tokens, temperature=temperature)
    ctx.record_llm_usage(
        model=completion.model,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
    )
    return completion
