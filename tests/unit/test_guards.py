"""Access guards: hosts by what they resolve to, paths by where they really are."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import guards

NONE = guards.AllowedHosts.parse([])


def resolver(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    ("url", "address", "port"),
    [
        ("http://127.0.0.1:8080/v1/chat/completions", "127.0.0.1", 8080),
        ("http://127.9.9.9/v1", "127.9.9.9", 80),
        ("https://[::1]:8443/v1", "::1", 8443),
        ("http://localhost:11434/v1", "127.0.0.1", 11434),
    ],
)
def test_loopback_is_allowed(url, address, port):
    target = guards.check_host(
        url, allowed=NONE, setting="LLM_ALLOWED_HOSTS", resolver=resolver({"localhost": ["127.0.0.1", "::1"]})
    )
    assert (target.address, target.port) == (address, port)


@pytest.mark.parametrize(
    ("url", "table", "reason"),
    [
        ("http://203.0.113.7:8080/v1", {}, "203.0.113.7 is not a loopback address"),
        ("http://10.0.0.5/v1", {}, "10.0.0.5 is not a loopback address"),
        ("http://[::ffff:10.0.0.5]/v1", {}, "is not a loopback address"),
        ("http://0.0.0.0:8080/v1", {}, "0.0.0.0 is not a loopback address"),
        ("http://llm.example.com/v1", {"llm.example.com": ["93.184.216.34"]}, "resolves to 93.184.216.34"),
        # One outside address is enough: a name must not smuggle a public address next to a loopback one.
        ("http://mixed.test/v1", {"mixed.test": ["127.0.0.1", "198.51.100.1"]}, "resolves to 198.51.100.1"),
        ("http://nowhere.invalid/v1", {}, "cannot be resolved"),
        ("ftp://127.0.0.1/v1", {}, "scheme 'ftp' is not http or https"),
        ("file:///etc/passwd", {}, "scheme 'file'"),
        ("http:///v1", {}, "has no host"),
        ("http://user:pw@127.0.0.1/v1", {}, "credentials"),
        ("http://127.0.0.1:99999/v1", {}, "cannot be parsed"),
    ],
)
def test_other_hosts_are_refused_with_the_setting_named(url, table, reason):
    with pytest.raises(guards.HostNotAllowed) as caught:
        guards.check_host(url, allowed=NONE, setting="LLM_ALLOWED_HOSTS", resolver=resolver(table))
    assert reason in str(caught.value)
    assert "LLM_ALLOWED_HOSTS" in str(caught.value) and caught.value.setting == "LLM_ALLOWED_HOSTS"


def test_listed_hosts_and_networks_are_allowed():
    allowed = guards.AllowedHosts.parse(["GPU-box.lan", "10.1.0.0/16", " ", "192.0.2.9"])
    table = resolver({"gpu-box.lan": ["10.9.9.9"], "inference.lan": ["10.1.4.2"]})
    assert guards.check_host("http://gpu-box.lan:8000/v1", allowed=allowed, setting="S", resolver=table).address == (
        "10.9.9.9"
    )
    assert guards.check_host("http://inference.lan/v1", allowed=allowed, setting="S", resolver=table).host == (
        "inference.lan"
    )
    assert guards.check_host("http://192.0.2.9/v1", allowed=allowed, setting="S", resolver=table).port == 80
    with pytest.raises(guards.HostNotAllowed):
        guards.check_host("http://10.2.0.1/v1", allowed=allowed, setting="S", resolver=table)


def test_path_inside_a_root_is_resolved(tmp_path: Path):
    root = tmp_path / "dags"
    (root / "sub").mkdir(parents=True)
    found = guards.check_path("sub/x.yaml", roots=[root], setting="DAG_ROOTS", base=root, suffixes={".yaml"})
    assert found == (root / "sub" / "x.yaml").resolve()
    assert guards.check_path(str(root / "y.YAML"), roots=[root], setting="DAG_ROOTS", base=tmp_path, suffixes={".yaml"})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("../outside.yaml", "outside the allowed folders"),
        ("/etc/passwd.yaml", "outside the allowed folders"),
        ("link/escape.yaml", "outside the allowed folders"),
        ("notes.txt", "must be a .yaml or .yml file"),
        ("", "is empty"),
        ("a\x00b.yaml", "NUL"),
    ],
)
def test_paths_outside_the_roots_are_refused(tmp_path: Path, raw, reason):
    root = tmp_path / "dags"
    root.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(guards.PathNotAllowed) as caught:
        guards.check_path(raw, roots=[root], setting="DAG_ROOTS", base=root, suffixes={".yaml", ".yml"})
    assert reason in str(caught.value)
    assert caught.value.setting == "DAG_ROOTS"


@pytest.fixture
def log_roots(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two roots (``logs``, ``archive``) and a folder outside both, with links between them."""
    logs, archive, outside = tmp_path / "logs", tmp_path / "archive", tmp_path / "outside"
    for folder in (logs, archive, outside):
        folder.mkdir()
    (outside / "secret.log").write_text("x")
    (archive / "old.log").write_text("x")
    (logs / "leak.log").symlink_to(outside / "secret.log")
    (logs / "outdir").symlink_to(outside, target_is_directory=True)
    (logs / "old.log").symlink_to(archive / "old.log")
    return logs, archive, outside


@pytest.mark.parametrize(
    "raw",
    [
        "../outside/secret.log",
        "sub/../../outside/secret.log",
        "leak.log",
        "outdir/secret.log",
        "{outside}/secret.log",
        "/etc/passwd",
        "~/.ssh/id_rsa",
    ],
)
def test_log_paths_outside_every_root_are_refused(log_roots, raw):
    logs, archive, outside = log_roots
    with pytest.raises(guards.PathNotAllowed) as caught:
        guards.check_path(raw.format(outside=outside), roots=[logs, archive], setting="LOG_ROOTS", base=logs)
    assert "is outside the allowed folders" in str(caught.value) and "see LOG_ROOTS" in str(caught.value)
    assert str(logs) in str(caught.value) and str(archive) in str(caught.value), "the allowed folders are listed"


@pytest.mark.parametrize("raw", ["old.log", "{archive}/old.log", "../archive/old.log"])
def test_log_paths_inside_any_root_are_allowed_after_resolving_links(log_roots, raw):
    logs, archive, _outside = log_roots
    found = guards.check_path(raw.format(archive=archive), roots=[logs, archive], setting="LOG_ROOTS", base=logs)
    assert found == (archive / "old.log").resolve()
