"""Random query strings on the admin lists (filters, search, ordering, dates) and the schedules
page (search, paging): an answer for the user, never a 500. Run ids are searched as UUIDs, dates
parsed, ordering indices checked: garbage in any of them is a normal page or a 4xx."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.models import Schedule
from tests import factories

pytestmark = pytest.mark.django_db

PAGES = [
    "/admin/scheduling/schedule/",
    "/admin/scheduling/scheduledrun/",
    "/admin/orchestrator/run/",
    "/admin/orchestrator/job/",
    "/admin/orchestrator/directive/",
    "/schedules/",
    "/schedules/rows/",
]
KEYS = [
    "q",
    "o",
    "p",
    "page",
    "e",
    "status",
    "status__exact",
    "job",
    "job__id__exact",
    "kind__exact",
    "enabled__exact",
    "tenant",
    "trigger__exact",
    "schedule",
    "last_run_status",
    "created_at__gte",
    "created_at__lt",
    "all",
    "_changelist_filters",
    "queue__exact",
]
values = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(["-1", "0", "1.5", "1-2.3", "9999-99-99", "2026-02-30", "' OR 1=1 --", "<script>", "%00", "\x00"]),
)
queries = st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=10)), values, max_size=4)


@pytest.mark.parametrize("page", PAGES)
@settings(max_examples=25)
@given(query=queries)
def test_random_query_strings_never_get_a_server_error(page, query):
    user = User.objects.filter(username="fuzz-root").first() or User.objects.create_superuser(
        "fuzz-root", password="pw"
    )
    if not Schedule.objects.exists():
        factories.schedule("noop", name="fuzz-me")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    response = client.get(page, query)
    assert response.status_code < 500, (page, query, response.status_code)


@pytest.fixture
def root() -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_superuser("query-root", password="pw"))
    factories.schedule("noop", name="listed", tenant="team-a")
    return client


@pytest.mark.parametrize(
    ("page", "parameter"),
    [
        ("/schedules/", "q"),
        ("/schedules/rows/", "q"),
        ("/admin/scheduling/schedule/", "kind__exact"),
        ("/admin/scheduling/schedule/", "tenant"),
        ("/admin/scheduling/schedule/", "last_run"),
        ("/admin/scheduling/schedule/", "name"),  # any field of the model is a filter in the admin
        ("/admin/scheduling/scheduledrun/", "status__exact"),
        ("/admin/orchestrator/run/", "trigger__exact"),
        ("/admin/orchestrator/run/", "status__exact"),
        ("/admin/orchestrator/job/", "queue__exact"),
        ("/admin/auth/user/", "username"),  # the admin of other apps too
        ("/api/schedules/", "tenant"),
    ],
)
def test_a_nul_in_a_filter_or_search_is_a_400_naming_the_parameter(root: Client, page: str, parameter: str):
    """PostgreSQL cannot compare text holding NUL: the query used to fail in the driver, a 500."""
    response = root.get(f"{page}?{parameter}=a%00b")
    assert response.status_code == 400, (page, parameter, response.status_code)
    if page.startswith("/api/"):  # the API answers JSON; other pages to clients asking for it (the page's script)
        assert response.json() == {parameter: ["must not contain NUL (\\u0000) characters"]}
    else:
        assert f"'{parameter}': must not contain NUL (\\u0000) characters" in response.content.decode()
        assert response["Content-Type"].startswith("text/plain")
    json_client = root.get(f"{page}?{parameter}=a%00b", HTTP_ACCEPT="application/json")
    assert json_client.json() == {parameter: ["must not contain NUL (\\u0000) characters"]}


@pytest.mark.parametrize("value", ["²", "٣٣٣" + "9" * 30, "12a", "-1"])
def test_the_run_list_schedule_filter_takes_only_an_id(root: Client, value: str):
    """``"²".isdigit()`` is true but ``int("²")`` fails: the filter used to raise (a 500)."""
    response = root.get("/admin/orchestrator/run/", {"schedule": value})
    assert response.status_code == 400
    assert "'schedule': must be a schedule's id (a whole number such as 12), not " in response.content.decode()
    schedule = Schedule.objects.get(name="listed")
    assert root.get("/admin/orchestrator/run/", {"schedule": str(schedule.pk)}).status_code == 200
