"""URL routes: the admin at /admin/, the REST API under /api/."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("scheduling.api.urls")),
]
