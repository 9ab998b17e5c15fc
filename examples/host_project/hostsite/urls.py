from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Ostinato: /schedules/ (the schedules pages), /api/ (the REST API), /metrics, /readyz.
    path("", include("scheduling.urls")),
]
