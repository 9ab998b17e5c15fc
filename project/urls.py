"""URL routes: the admin at /admin/, the REST API under /api/, Prometheus metrics at /metrics."""

from django.contrib import admin
from django.urls import include, path

from scheduling.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("scheduling.api.urls")),
    path("metrics", metrics_view, name="metrics"),
]
