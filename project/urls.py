"""URL routes: the admin at /admin/ (the API and the schedules page are added by their apps)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
