"""Access guards: what a job may reach, checked before it reaches it.

Each guard answers one question with a value or an ``AccessDenied`` naming the setting that would
allow it, and touches nothing it is asked about until it has answered:

* ``check_host`` (``LLM_ALLOWED_HOSTS``): may this URL's host be contacted? Loopback always may;
  any other host only when it is listed. The host is *resolved* first and every address it
  resolves to is checked, so a name that points outside (``llm.example.com``, a DNS entry changed
  to a public address) is refused although it looks harmless. The caller then connects to the
  checked address itself (``AllowedTarget.address``), so a second resolution cannot point the
  connection somewhere else.
* ``check_path`` (``DAG_ROOTS``, ``LOG_ROOTS``): is this file inside one of the allowed folders,
  after following symbolic links?

A refusal raised inside a run fails it (no retry) with an ``access_denied`` event naming the
setting (``orchestrator.service``).

No guard reads settings: callers pass the allowed values, so the guards are pure functions of
their inputs (plus DNS for ``check_host`` and the file system for ``check_path``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from orchestrator.errors import SchedulerError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``(host, port) -> addresses``; the default asks the system resolver (``getaddrinfo``).
Resolver = Callable[[str, int], Sequence[str]]

DEFAULT_PORTS = {"http": 80, "https": 443}


class AccessDenied(SchedulerError):
    """A guard refused: ``setting`` names what an operator would change to allow it."""

    def __init__(self, message: str, *, setting: str) -> None:
        self.setting = setting
        super().__init__(message)


class HostNotAllowed(AccessDenied):
    def __init__(self, url: str, host: str, reason: str, *, setting: str) -> None:
        self.url = url
        self.host = host
        self.reason = reason
        super().__init__(
            f"refusing to connect to {host!r} ({url}): {reason}; only loopback hosts are allowed "
            f"unless the host is listed in {setting}",
            setting=setting,
        )


class PathNotAllowed(AccessDenied):
    def __init__(self, path: str, reason: str, *, setting: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}", setting=setting)


@dataclass(frozen=True, kw_only=True)
class AllowedHosts:
    """Parsed ``LLM_ALLOWED_HOSTS``-style entries: host names (exact, case-insensitive), addresses, networks."""

    names: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Collection[str]) -> AllowedHosts:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(entry.rstrip("."))
        return cls(names=frozenset(names), networks=tuple(networks))

    def allows_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def allows_address(self, address: IPAddress) -> bool:
        return address.is_loopback or any(address in network for network in self.networks)


@dataclass(frozen=True, kw_only=True)
class AllowedTarget:
    """A URL the guard let through, with the address to connect to (one of those it checked)."""

    scheme: str
    host: str
    port: int
    address: str
    path: str


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def check_host(
    url: str,
    *,
    allowed: AllowedHosts,
    setting: str,
    resolver: Resolver = system_resolver,
) -> AllowedTarget:
    """Check ``url`` before any connection: its host must be loopback or allowed, by name or by address.

    A host listed by name is trusted whatever it resolves to (the operator named it). Otherwise
    the host is resolved and *every* address must be loopback or inside an allowed network; one
    outside address is enough to refuse. Raises ``HostNotAllowed``; returns the target to connect
    to, pinned to the first checked address.
    """
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise HostNotAllowed(url, "", f"the URL cannot be parsed ({exc})", setting=setting) from exc
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS:
        raise HostNotAllowed(url, host, f"the scheme {parts.scheme!r} is not http or https", setting=setting)
    if not host:
        raise HostNotAllowed(url, host, "the URL has no host", setting=setting)
    if parts.username or parts.password:
        raise HostNotAllowed(url, host, "credentials in the URL are not supported", setting=setting)
    port = port or DEFAULT_PORTS[scheme]
    literal = literal_address(host)
    if literal is not None:
        if not allowed.allows_address(literal):
            raise HostNotAllowed(url, host, f"{literal} is not a loopback address", setting=setting)
        addresses = [str(literal)]
    else:
        try:
            addresses = list(resolver(host, port))
        except OSError as exc:
            raise HostNotAllowed(url, host, f"the host cannot be resolved ({exc})", setting=setting) from exc
        if not addresses:
            raise HostNotAllowed(url, host, "the host resolves to no address", setting=setting)
        if not allowed.allows_name(host):
            outside = [a for a in addresses if (ip := literal_address(a)) is None or not allowed.allows_address(ip)]
            if outside:
                raise HostNotAllowed(
                    url, host, f"it resolves to {', '.join(outside)}, which is not loopback", setting=setting
                )
    return AllowedTarget(scheme=scheme, host=host, port=port, address=addresses[0], path=parts.path or "/")


def check_path(
    path: str | Path,
    *,
    roots: Sequence[Path],
    setting: str,
    base: Path,
    suffixes: Collection[str] = (),
) -> Path:
    """The resolved ``path`` (relative ones are taken from ``base``) when it lies inside one of ``roots``.

    Symbolic links are followed before the check, so a link inside a root that points outside is
    refused. ``suffixes`` (e.g. ``{".yaml", ".yml"}``) restricts the file types. Raises
    ``PathNotAllowed``; the file need not exist (callers report a missing file themselves).
    """
    raw = str(path)
    if not raw.strip():
        raise PathNotAllowed(raw, "is empty", setting=setting)
    if "\x00" in raw:
        raise PathNotAllowed(repr(raw), "contains a NUL character", setting=setting)
    candidate = Path(raw).expanduser()
    if not candidate.is_absolute():
        candidate = base / candidate
    resolved = candidate.resolve()
    if suffixes and resolved.suffix.lower() not in suffixes:
        raise PathNotAllowed(raw, f"must be a {' or '.join(sorted(suffixes))} file", setting=setting)
    resolved_roots = [root.expanduser().resolve() for root in roots]
    if not any(resolved.is_relative_to(root) for root in resolved_roots):
        listed = ", ".join(str(root) for root in resolved_roots) or "(none)"
        raise PathNotAllowed(raw, f"is outside the allowed folders ({listed}); see {setting}", setting=setting)
    return resolved
