"""A host project's URLs as the README has them: the admin and the apps' routes, no login pages of its own."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("scheduling.urls")),
]
