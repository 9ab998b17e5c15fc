"""URL routes: the admin at /admin/, the schedules page at /schedules/ (the API is added by its app)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("schedules/", include("scheduling.page_urls")),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(next_page="/schedules/", redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("", RedirectView.as_view(url="/schedules/", permanent=False)),
]
