"""Routes of the schedules pages, under /schedules/ (``scheduling.urls``)."""

from __future__ import annotations

from django.urls import URLPattern, path

from scheduling.ops import views as ops_views
from scheduling.surfaces import calendar_pages, pause_pages, schedule_page, timeline_page, views

app_name = "schedules"

urlpatterns: list[URLPattern] = [
    path("", views.schedule_list, name="list"),
    path("rows/", views.schedule_rows, name="rows"),
    path("status/", ops_views.status_page, name="status"),
    path("new/", views.schedule_create, name="create"),
    path("preview/", views.schedule_preview, name="preview"),
    path("timeline/", timeline_page.timeline_view, name="timeline"),
    path("calendars/", calendar_pages.calendar_list, name="calendars"),
    path("calendars/new/", calendar_pages.calendar_create, name="calendar_create"),
    path("calendars/<int:pk>/", calendar_pages.calendar_edit, name="calendar_edit"),
    # ``…_delete`` as below: the hostile-values sweep visits delete pages last
    path("calendars/<int:pk>/delete/", calendar_pages.calendar_delete, name="calendar_confirm_delete"),
    path("<int:pk>/", schedule_page.schedule_detail, name="detail"),
    path("<int:pk>/backfill/", schedule_page.schedule_backfill, name="backfill"),
    path("<int:pk>/edit/", views.schedule_edit, name="edit"),
    path("<int:pk>/run-now/", views.schedule_run_now, name="run_now"),
    path("<int:pk>/enable/", views.schedule_enable, name="enable"),
    path("<int:pk>/disable/", views.schedule_disable, name="disable"),
    path("<int:pk>/pause/", pause_pages.schedule_pause, name="pause"),
    path("<int:pk>/resume/", pause_pages.schedule_resume, name="resume"),
    # named ``…_delete``: the hostile-values sweep visits delete pages last in their group
    path("<int:pk>/delete/", schedule_page.schedule_delete, name="confirm_delete"),
]
