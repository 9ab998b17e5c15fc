"""Production settings, checked in fresh processes with a production-like environment: secrets
from the environment only, DEBUG off, the secret key required, ``check --deploy`` clean; and the
demo still works over plain http.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.django_db
def test_with_https_on_plain_http_is_redirected_and_https_answers_get_hsts():
    with override_settings(SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=31536000, SECURE_HSTS_INCLUDE_SUBDOMAINS=True):
        client = Client()
        plain = client.get("/accounts/login/")
        assert plain.status_code == 301 and plain["Location"] == "https://testserver/accounts/login/"
        secure = client.get("/accounts/login/", secure=True)
        assert secure.status_code == 200
        assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        assert client.get("/readyz").status_code != 301, "readiness probes over plain http are not redirected"
