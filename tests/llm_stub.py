"""A real OpenAI-compatible chat-completions server on 127.0.0.1, for tests.

It runs in a thread of the test process (a real peer on a real socket, not a mock): the worker
processes a test starts reach it over TCP like any local model server. Each request takes the
next scripted ``Reply`` (the last one repeats) and is recorded, so a test can check what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    content: str = "stub summary"
    model: str = "stub-model"
    prompt_tokens: int | None = 11
    completion_tokens: int | None = 7
    delay_seconds: float = 0.0
    raw: bytes | None = None  # sent as is instead of a completion

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.status != 200:
            return json.dumps({"error": {"message": "stub error", "code": self.status}}).encode()
        payload: dict[str, Any] = {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "model": self.model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": self.content}, "finish_reason": "stop"}
            ],
        }
        if self.prompt_tokens is not None and self.completion_tokens is not None:
            payload["usage"] = {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            }
        return json.dumps(payload).encode()


@dataclass
class StubLLM:
    replies: list[Reply] = field(default_factory=lambda: [Reply()])
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self.replies = list(replies)

    def next_reply(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def _handler(stub: StubLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                body = None
            reply = stub.next_reply(
                {"path": self.path, "headers": dict(self.headers.items()), "body": body, "raw": raw.decode()}
            )
            if reply.delay_seconds:
                time.sleep(reply.delay_seconds)
            data = reply.body()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running(*replies: Reply) -> Iterator[StubLLM]:
    """Start the stub on a free port of 127.0.0.1; stop it (and its thread) when the block ends."""
    stub = StubLLM(replies=list(replies) or [Reply()])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    stub.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="stub-llm", daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
