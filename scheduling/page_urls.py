"""Routes of the schedules page, included at /schedules/ by project.urls."""

from __future__ import annotations

from django.urls import URLPattern, path

from scheduling import status_views, views

app_name = "schedules"

urlpatterns: list[URLPattern] = [
    path("", views.schedule_list, name="list"),
    path("rows/", views.schedule_rows, name="rows"),
    path("status/", status_views.status_page, name="status"),
    path("new/", views.schedule_create, name="create"),
    path("preview/", views.schedule_preview, name="preview"),
    path("<int:pk>/edit/", views.schedule_edit, name="edit"),
    path("<int:pk>/run-now/", views.schedule_run_now, name="run_now"),
    path("<int:pk>/enable/", views.schedule_enable, name="enable"),
    path("<int:pk>/disable/", views.schedule_disable, name="disable"),
]
