"""Restarting the demo keeps open browser sessions: the admin's password is set only when it differs."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import LazySettings
from django.contrib.auth.models import User
from django.test import Client

from project import demo


@pytest.mark.django_db
def test_a_restart_does_not_log_out_the_admin(settings: LazySettings, tmp_path: Path, client: Client) -> None:
    settings.VAR_DIR = tmp_path
    username, password = demo.ensure_admin()
    assert client.login(username=username, password=password)
    assert client.get("/admin/").status_code == 200
    hashed = User.objects.get(username=username).password

    assert demo.ensure_admin() == (username, password)  # the demo started again
    assert User.objects.get(username=username).password == hashed
    assert client.get("/admin/").status_code == 200  # still logged in

    user = User.objects.get(username=username)
    user.set_password("changed by someone")
    user.save()
    demo.ensure_admin()  # differs: reset to the demo's password
    assert User.objects.get(username=username).check_password(password)
