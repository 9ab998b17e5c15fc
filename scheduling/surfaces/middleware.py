"""Bad input in a URL answers 400 naming the parameter, on every page (the admin of every app too).

PostgreSQL can neither store nor compare text holding NUL: a filter, a search or a lookup with one
fails in the driver, deep inside whichever view used it, as a 500. Django's admin lets any field of
a model be filtered by name (``?tenant=``, ``?username=``), so no list of parameters is complete;
refusing NUL in the path and in every query parameter here, before any view runs, covers every
page there is and every page added later.

The rows an admin list's action is asked to act on (``_selected_action``, a form field) are checked
here too, against the model's key: Django's admin looks them up as given (a 500 for ``²`` or for
5,000 digits), on the pages of every app. A view or list filter that finds a value it cannot use
(``?schedule=²``) raises ``QueryParameterError``; this answers that too (without this middleware
Django still answers it 400, as a ``SuspiciousOperation``, only without the message).

The answer is JSON for the REST API and for clients asking for JSON (the schedules page's script),
shaped like the API's validation errors (``{"q": ["must not contain ..."]}``), and plain text
otherwise. Other form fields are the forms' business: they name the field on the page.

Add ``"scheduling.surfaces.middleware.BadInputMiddleware"`` to ``MIDDLEWARE`` (the standalone project does).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponse, QueryDict
from rest_framework.views import APIView

from orchestrator.errors import QueryParameterError
from scheduling.surfaces.input_checks import contains_nul, unstorable


def query_errors(query: QueryDict) -> dict[str, list[str]]:
    """Each query parameter whose name or a value cannot reach the database, with what is wrong."""
    errors: dict[str, list[str]] = {}
    for name, values in query.lists():
        problem = unstorable(name)
        if problem:
            errors.setdefault(name, []).append(f"the parameter's name {problem}")
        for value in values:
            problem = unstorable(value)
            if problem and problem not in errors.get(name, []):
                errors.setdefault(name, []).append(problem)
    return errors


#: The most digits an integer id is given with (a bigint has 19): ``int()`` takes far longer ones.
MAX_ID_DIGITS = 20


def selection_errors(request: HttpRequest, view: Callable[..., Any]) -> dict[str, list[str]]:
    """An admin list's action asked for rows by something that is not an id of that model."""
    model_admin = getattr(view, "model_admin", None)
    match = request.resolver_match
    if request.method != "POST" or model_admin is None or match is None or not match.url_name:
        return {}
    if not match.url_name.endswith("_changelist"):
        return {}
    key = model_admin.model._meta.pk
    for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
        try:
            if unstorable(value) or (isinstance(key, models.IntegerField) and len(value) > MAX_ID_DIGITS):
                raise ValidationError("not an id")
            key.to_python(value)
        except ValidationError:
            noun = model_admin.model._meta.verbose_name
            return {ACTION_CHECKBOX_NAME: [f"must be ids of {noun} rows, chosen in the list; {value[:20]!r} is none"]}
    return {}


def _wants_json(request: HttpRequest, view: Callable[..., Any] | None) -> bool:
    if view is None and request.resolver_match is not None:
        view = request.resolver_match.func
    view_class = getattr(view, "cls", None)
    is_api = isinstance(view_class, type) and issubclass(view_class, APIView)
    return is_api or "application/json" in request.headers.get("Accept", "")


def bad_request(
    request: HttpRequest, errors: Mapping[str, Sequence[str]], view: Callable[..., Any] | None = None
) -> HttpResponse:
    """400 with every parameter's problems: JSON for the API and for JSON clients, plain text otherwise."""
    if _wants_json(request, view):
        body = json.dumps({name: list(messages) for name, messages in errors.items()})
        return HttpResponse(body, status=400, content_type="application/json")
    lines = [f"{name!r}: {message}" for name, messages in errors.items() for message in messages]
    text = "Bad request: a parameter of the address cannot be used.\n" + "\n".join(lines) + "\n"
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")


class BadInputMiddleware:
    """Refuses a URL whose path or query holds NUL; answers ``QueryParameterError`` with its message."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> HttpResponse | None:
        errors = query_errors(request.GET)
        if contains_nul(request.path):  # e.g. a key or an object id in the path, looked up as text
            errors = {"path": ["must not contain NUL (\\u0000) characters"], **errors}
        errors.update(selection_errors(request, view))
        return bad_request(request, errors, view) if errors else None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, QueryParameterError):
            return bad_request(request, exception.errors)
        return None
