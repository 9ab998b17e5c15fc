"""Signed webhook POSTs: the body's HMAC under the rule's secret, a timeout, no redirect to another host.

``sign(secret, body)`` is ``sha256=<hex HMAC-SHA256 of the raw body>``, the value of
``X-Ostinato-Signature``; a receiver recomputes it over the bytes it received (``verify``).
``post`` sends one attempt with ``http.client`` (HTTP and HTTPS), follows at most
``MAX_REDIRECTS`` redirects and only to the same scheme, host and port (re-sending the same POST),
and raises ``DeliveryError`` for anything but a 2xx answer. The secret is never part of an error
message or a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ssl
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

from orchestrator.errors import SchedulerError

MAX_REDIRECTS = 3
SIGNATURE_HEADER = "X-Ostinato-Signature"
EVENT_HEADER = "X-Ostinato-Event"
DELIVERY_HEADER = "X-Ostinato-Delivery"
USER_AGENT = "ostinato-notifications/1"


class DeliveryError(SchedulerError):
    """One attempt did not deliver; ``message`` says why (never with the secret)."""


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What a receiver does: constant-time comparison of the header with the body's signature."""
    return hmac.compare_digest(sign(secret, body), signature or "")


def shown_url(url: str) -> str:
    """The URL without user info, query or fragment: safe to put in an error or a log line."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def post(url: str, body: bytes, *, headers: Mapping[str, str], timeout_seconds: float, ca_file: str = "") -> int:
    """POST ``body`` to ``url``; return the 2xx status. Raises ``DeliveryError`` otherwise.
    HTTPS verifies the certificate against the system's CAs and ``ca_file`` (a PEM bundle) if given."""
    origin = _origin(url)
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        status, location = _post_once(current, body, headers=headers, timeout_seconds=timeout_seconds, ca_file=ca_file)
        if 200 <= status < 300:
            return status
        if status in (301, 302, 303, 307, 308) and location:
            target = urljoin(current, location)
            if _origin(target) != origin:
                raise DeliveryError(f"HTTP {status}: redirect to another host ({shown_url(target)}) not followed")
            current = target
            continue
        raise DeliveryError(f"HTTP {status} from {shown_url(current)}")
    raise DeliveryError(f"more than {MAX_REDIRECTS} redirects from {shown_url(url)}")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _tls(ca_file: str) -> ssl.SSLContext:
    """The system's CAs, plus ``ca_file`` when given (an internal endpoint's private CA).
    Certificates and host names are always verified."""
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"the CA file {ca_file} cannot be loaded ({exc})") from exc
    return context


def _post_once(
    url: str, body: bytes, *, headers: Mapping[str, str], timeout_seconds: float, ca_file: str
) -> tuple[int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError(f"not an http(s) URL: {shown_url(url)}")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout_seconds, context=_tls(ca_file))
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_seconds)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Content-Length": str(len(body)),
        **headers,
    }
    try:
        conn.request("POST", path, body=body, headers=sent)
        response = conn.getresponse()
        response.read(64 * 1024)
        return response.status, response.getheader("Location") or ""
    except TimeoutError as exc:
        raise DeliveryError(f"no answer within {timeout_seconds:g}s from {shown_url(url)}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(f"{type(exc).__name__} from {shown_url(url)}: {exc}") from exc
    finally:
        conn.close()
