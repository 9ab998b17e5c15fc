"""URL routes of the standalone project: the admin at /admin/, the login pages, and the apps' routes
(``scheduling.urls``: /schedules/, /api/, /metrics, /readyz). Liveness, /healthz, never reaches the URLs."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(next_page="/schedules/", redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("", include("scheduling.urls")),
    path("", RedirectView.as_view(url="/schedules/", permanent=False)),
]
