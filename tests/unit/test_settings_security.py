"""Production settings, checked in fresh processes with a production-like environment: secrets
from the environment only, DEBUG off, the secret key required, ``check --deploy`` clean; and the
demo still works over plain http.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "from django.conf import settings as s; "
    "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
    "s.SECRET_KEY == __import__('os').environ.get('DJANGO_SECRET_KEY'), s.LLM_API_KEY, s.METRICS_TOKEN)"
)


def manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``manage.py`` in a clean environment (nothing inherited from the test run but PATH)."""
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SCHEDULER_VAR_DIR": str(tmp_path / "var"), **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def production() -> dict[str, str]:
    return {
        "DATABASE_URL": "postgres://ostinato:secret@db.example.com:5432/ostinato",
        "REDIS_URL": "redis://redis.example.com:6379/0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "scheduler.example.com",
    }


def test_check_deploy_is_clean_for_the_production_settings(tmp_path: Path, production):
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **production)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_production_defaults_debug_off_https_on_secrets_from_the_environment(tmp_path: Path, production):
    result = manage(
        tmp_path, "shell", "-v", "0", "-c", SHOW, LLM_API_KEY="llm-from-env", METRICS_TOKEN="m-from-env", **production
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "True", "31536000", "True", "llm-from-env", "m-from-env"]


def test_the_secret_key_is_required_outside_the_demo(tmp_path: Path, production):
    del production["DJANGO_SECRET_KEY"]
    result = manage(tmp_path, "check", **production)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when DATABASE_URL is set (outside the demo)" in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists(), "no key was made up outside the demo"


def test_a_malformed_security_variable_is_named(tmp_path: Path, production):
    result = manage(tmp_path, "check", DJANGO_HTTPS="perhaps", **production)
    assert result.returncode != 0 and "DJANGO_HTTPS='perhaps'" in result.stderr


def test_the_demo_runs_over_plain_http_with_a_generated_key_kept_private(tmp_path: Path):
    result = manage(tmp_path, "shell", "-v", "0", "-c", SHOW)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "False", "False", "0", "False", "None", "None"]
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key_file.read_text().strip()) >= 50


def test_no_secret_is_written_into_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    literal = re.compile(r"""(SECRET_KEY|API_KEY|METRICS_TOKEN|PASSWORD)\s*[:=]\s*["'][^"'$]{8,}["']""")
    found = []
    for name in tracked:
        if name.startswith("tests/") or not name.endswith((".py", ".yml", ".yaml", ".toml", ".cfg", ".env", ".sh")):
            continue
        text = (ROOT / name).read_text(errors="replace")
        found += [f"{name}: {match.group(0)}" for match in literal.finditer(text)]
        assert "PRIVATE KEY-----" not in text, name
    assert not found, found
    assert "var/" in (ROOT / ".gitignore").read_text(), "the demo's generated key (var/secret_key) is not ignored"
