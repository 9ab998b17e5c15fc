"""The apps' pages in a project whose URLs are the admin and ``scheduling.urls`` alone (README, "Add it to
your Django project"): nothing they render names a URL only the standalone project has."""

from __future__ import annotations

import pytest
from django.test import Client

from tests import factories
from tests.records import staff_user

pytestmark = pytest.mark.django_db


@pytest.mark.urls("tests.host_urls")
def test_the_schedules_pages_log_out_through_the_admin_when_the_project_has_no_logout_page(client: Client) -> None:
    schedule = factories.schedule("noop")
    client.force_login(staff_user("ops", "scheduling.view_schedule", "scheduling.change_schedule"))
    for url in ("/schedules/", f"/schedules/{schedule.pk}/edit/"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert 'action="/admin/logout/" class="logout"' in page.content.decode(), url


def test_the_projects_own_logout_page_is_used_when_it_has_one(client: Client) -> None:
    client.force_login(staff_user("ops", "scheduling.view_schedule"))
    page = client.get("/schedules/")
    assert page.status_code == 200
    assert 'action="/accounts/logout/" class="logout"' in page.content.decode()
