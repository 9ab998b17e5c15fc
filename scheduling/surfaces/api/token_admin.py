"""Admin for API tokens: list them by prefix, issue, rotate and revoke; a key is shown once.

Nothing here can show a key again: the database holds only its digest. Issuing (*Add*) and
rotating (the list's action) answer with a page that shows the new key, sent with
``Cache-Control: no-store``; it is never put in a message (messages travel in the session or a
cookie) or in the admin history (which records the prefix).

A key acts as its user, so issuing or rotating one for someone else would let a staff user act as
them (a superuser, say). Only superusers may do that; others may issue and rotate their own.
Revoking (*Delete*) needs only the delete permission: it takes access away, never gives it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from scheduling.surfaces.api.tokens import ApiToken

KEY_TEMPLATE = "admin/scheduling/apitoken/key_once.html"


def may_issue_for(request: HttpRequest, user: Any) -> bool:
    """Whether the logged-in user may create or rotate ``user``'s key (their own, or anyone's as superuser)."""
    acting: Any = request.user
    return bool(acting.is_superuser or acting.pk == user.pk)


class IssueForm(forms.ModelForm):  # type: ignore[type-arg]  # generic only in the stubs
    """Only the user: the key is made by the server and shown once."""

    class Meta:
        model = ApiToken
        fields = ("user",)

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.fields["user"].queryset = get_user_model().objects.order_by("username")  # type: ignore[attr-defined]

    def clean_user(self) -> Any:
        user = self.cleaned_data["user"]
        if not may_issue_for(self.request, user):
            raise forms.ValidationError(
                "Only a superuser may issue a token for another user (a token acts as its user)."
            )
        existing = ApiToken.objects.filter(user=user).first()
        if existing is not None:
            raise forms.ValidationError(
                f"{user} already has a token ({existing.prefix}…): rotate it from the list instead."
            )
        return user

    def validate_unique(self) -> None:
        """The one-token-per-user rule is checked in ``clean_user``, with a message that says what to do."""


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # generic only in the stubs
    list_display = ("user", "key_prefix", "issued_at", "expires")
    list_select_related = ("user",)
    search_fields = ("user__username", "prefix")
    ordering = ("user__username",)
    actions = ("rotate_action",)

    @admin.display(description="key", ordering="prefix")
    def key_prefix(self, obj: ApiToken) -> str:
        return f"{obj.prefix}…"

    @admin.display(description="expires")
    def expires(self, obj: ApiToken) -> str:
        expires = obj.expires_at()
        return "never" if expires is None else f"{expires:%Y-%m-%d %H:%M} UTC"

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        return ("user",) if obj is None else ("user", "key_prefix", "issued_at", "expires")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        return () if obj is None else ("user", "key_prefix", "issued_at", "expires")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)

        class BoundIssueForm(IssueForm):
            def __init__(self, *args: Any, **inner: Any) -> None:
                super().__init__(*args, request=request, **inner)

        return BoundIssueForm

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False  # nothing to edit: a token is issued, rotated or revoked

    def has_rotate_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("scheduling.change_apitoken"))

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            raise PermissionDenied
        key = obj.assign_new_key(timezone.now())
        obj.save()
        request._issued_keys = [(obj, key)]  # type: ignore[attr-defined]  # shown by response_add, then gone

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> HttpResponse:
        return self._show_keys(request, getattr(request, "_issued_keys", []), "issued")

    @admin.action(description="Rotate selected tokens (the old keys stop working; new keys are shown once)")
    def rotate_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        tokens = list(queryset.select_related("user").order_by("user__username"))
        refused = [token.user for token in tokens if not may_issue_for(request, token.user)]
        if refused:
            self.message_user(
                request,
                "Nothing rotated: only a superuser may rotate another user's token ("
                + ", ".join(str(user) for user in refused)
                + ").",
                level="error",
            )
            return None
        issued = []
        for token in tokens:
            new, key = ApiToken.objects.issue(token.user)
            self.log_change(request, new, f"Rotated: the key is now {new.prefix}… (was {token.prefix}…).")
            issued.append((new, key))
        return self._show_keys(request, issued, "rotated")

    def _show_keys(self, request: HttpRequest, issued: list[tuple[ApiToken, str]], verb: str) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": f"API token{'' if len(issued) == 1 else 's'} {verb}",
            "opts": self.model._meta,
            "issued": issued,
            "verb": verb,
        }
        response = TemplateResponse(request, KEY_TEMPLATE, context)
        add_never_cache_headers(response)
        return response
