"""URL routes: the admin at /admin/, the schedules page at /schedules/, the REST API under /api/,
Prometheus metrics at /metrics, readiness at /readyz (liveness, /healthz, never reaches the URLs)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from project import third_party_admin
from scheduling.metrics import metrics_view
from scheduling.status_views import readyz

third_party_admin.harden(admin.site)  # django-celery-beat's and -results' pages, without their 500s

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("scheduling.api.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("readyz", readyz, name="readyz"),  # /healthz is answered by project.health.HealthzMiddleware
    path("schedules/", include("scheduling.page_urls")),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(next_page="/schedules/", redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("", RedirectView.as_view(url="/schedules/", permanent=False)),
]
