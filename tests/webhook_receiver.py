"""A real local HTTP endpoint for webhook tests: verifies each delivery's signature and counts them.

``Receiver(secret)`` serves on 127.0.0.1 in a thread (``with Receiver(...) as hook: hook.url``).
``mode`` is what it answers: ``ok`` (204), ``fail`` (500), ``hang`` (holds the request for
``hang_seconds`` without answering) or ``redirect`` (a 307 to ``redirect_to``); ``hang_first``
holds that many first requests, whatever the mode. Every request is
kept with its verified signature, event header and parsed body.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from orchestrator.webhooks import verify


@dataclass
class Received:
    path: str
    event: str
    delivery: str
    signature: str
    verified: bool
    body: dict[str, Any]
    raw: bytes = b""


@dataclass
class Receiver:
    secret: str = ""
    mode: str = "ok"
    hang_seconds: float = 30.0
    redirect_to: str = ""
    hang_first: int = 0
    #: ``(certificate, key)`` PEM files: serve HTTPS with them (``tls_files`` makes a CA-signed pair).
    tls: tuple[Path, Path] | None = None
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}/hook"

    def deliveries(self, event: str | None = None) -> list[Received]:
        with self._lock:
            return [item for item in self.received if event is None or item.event == event]

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                signature = self.headers.get("X-Ostinato-Signature") or ""
                item = Received(
                    path=self.path,
                    event=self.headers.get("X-Ostinato-Event") or "",
                    delivery=self.headers.get("X-Ostinato-Delivery") or "",
                    signature=signature,
                    verified=verify(receiver.secret, raw, signature) if receiver.secret else False,
                    body=json.loads(raw or b"{}"),
                    raw=raw,
                )
                with receiver._lock:
                    receiver.received.append(item)
                    held = len(receiver.received) <= receiver.hang_first
                if receiver.mode == "hang" or held:
                    time.sleep(receiver.hang_seconds)
                    return
                if receiver.mode == "redirect":
                    self.send_response(307)
                    self.send_header("Location", receiver.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(500 if receiver.mode == "fail" else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile=self.tls[0], keyfile=self.tls[1])
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate it signed for 127.0.0.1 (``openssl``): ``(ca, cert, key)``."""
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, request = folder / "server.pem", folder / "server.key", folder / "server.csr"
    extensions = folder / "server.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    for argv in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=ostinato test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "2", "-extfile", extensions],
    ):  # fmt: skip
        subprocess.run(["openssl", *map(str, argv)], check=True, capture_output=True, timeout=60)
    return ca, cert, key
