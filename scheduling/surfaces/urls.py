"""Routes of the schedules pages, under /schedules/ (``scheduling.urls``)."""

from __future__ import annotations

from django.urls import URLPattern, path

from scheduling.ops import views as ops_views
from scheduling.surfaces import pause_pages, views

app_name = "schedules"

urlpatterns: list[URLPattern] = [
    path("", views.schedule_list, name="list"),
    path("rows/", views.schedule_rows, name="rows"),
    path("status/", ops_views.status_page, name="status"),
    path("new/", views.schedule_create, name="create"),
    path("preview/", views.schedule_preview, name="preview"),
    path("<int:pk>/edit/", views.schedule_edit, name="edit"),
    path("<int:pk>/run-now/", views.schedule_run_now, name="run_now"),
    path("<int:pk>/enable/", views.schedule_enable, name="enable"),
    path("<int:pk>/disable/", views.schedule_disable, name="disable"),
    path("<int:pk>/pause/", pause_pages.schedule_pause, name="pause"),
    path("<int:pk>/resume/", pause_pages.schedule_resume, name="resume"),
]
