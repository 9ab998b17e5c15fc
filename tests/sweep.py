"""What a page offers to be filled in: its forms (as a browser would submit them), the query
parameters its links and search boxes use, an admin changelist's filters, an API operation's
parameters and body. Used by ``test_hostile_values.py`` to put a hostile value in each of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from django.contrib.admin.options import IS_POPUP_VAR, TO_FIELD_VAR
from django.contrib.admin.views.main import ALL_VAR, ERROR_FLAG, ORDER_VAR, PAGE_VAR, SEARCH_VAR
from django.test import RequestFactory
from django.urls import Resolver404, resolve


def quoted(text: str) -> str:
    """``text`` percent-encoded as its UTF-8 bytes; a lone surrogate as the three bytes a client can send."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def encoded(pairs: list[tuple[str, str]]) -> str:
    """A query string (or form body) of ``pairs``, hostile characters included."""
    return "&".join(f"{quoted(name)}={quoted(value)}" for name, value in pairs)


def as_header(text: str) -> str:
    """``text`` as a WSGI server hands a header over: its UTF-8 bytes read as Latin-1."""
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


@dataclass
class Form:
    """One ``<form>``: what a browser submits unchanged, and every control that could be changed."""

    method: str
    action: str
    baseline: list[tuple[str, str]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    #: Where the page's script also sends the form (``data-preview-url`` and the like).
    script_targets: list[str] = field(default_factory=list)
    #: The choices of a ``<select name="action">`` (an admin changelist's actions).
    actions: list[str] = field(default_factory=list)

    def named(self, name: str) -> None:
        if name not in self.names:
            self.names.append(name)


class PageParser(HTMLParser):
    """The forms and the links of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.links: list[str] = []
        self._form: Form | None = None
        self._select: tuple[str, list[tuple[str, bool]], bool] | None = None
        self._option: list[Any] | None = None
        self._textarea: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        if tag == "a" and found.get("href"):
            self.links.append(found["href"])
        if tag == "form":
            self._form = Form(method=found.get("method", "get").lower(), action=found.get("action", ""))
            return
        form = self._form
        if form is None:
            return
        form.script_targets += [
            value for key, value in found.items() if key.startswith("data-") and key.endswith("-url")
        ]
        name = found.get("name")
        if not name:
            if tag == "option" and self._select is not None:
                self._option = [found.get("value"), "selected" in found, ""]
            return
        if tag == "input":
            kind = found.get("type", "text").lower()
            form.named(name)
            if kind in ("checkbox", "radio"):
                if "checked" in found:
                    form.baseline.append((name, found.get("value", "on")))
            elif kind not in ("submit", "button", "image", "reset", "file"):
                form.baseline.append((name, found.get("value", "")))
        elif tag == "button":
            form.named(name)
        elif tag == "select":
            form.named(name)
            self._select = (name, [], "multiple" in found)
        elif tag == "textarea":
            form.named(name)
            self._textarea = [name, ""]

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._option[2] += data
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag: str) -> None:
        form = self._form
        if tag == "option" and self._option is not None and self._select is not None:
            value, selected, text = self._option
            self._select[1].append((text.strip() if value is None else value, selected))
            self._option = None
        elif tag == "select" and self._select is not None and form is not None:
            name, options, multiple = self._select
            chosen = [value for value, selected in options if selected]
            if not chosen and options and not multiple:
                chosen = [options[0][0]]  # a browser submits the first option of a plain select
            form.baseline += [(name, value) for value in chosen]
            if name == "action":
                form.actions = [value for value, _ in options if value]
            self._select = None
        elif tag == "textarea" and self._textarea is not None and form is not None:
            name, text = self._textarea
            form.baseline.append((name, text.removeprefix("\n")))
            self._textarea = None
        elif tag == "form" and form is not None:
            self.forms.append(form)
            self._form = None


def parse_page(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    parser.close()
    return parser


def link_parameters(page: PageParser, path: str) -> list[str]:
    """Query parameters the page's links and search boxes send to ``path`` itself."""
    names: list[str] = []
    for href in page.links:
        parts = urlsplit(href)
        if parts.path in ("", path):
            names += [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
    for form in page.forms:
        if form.method == "get" and urlsplit(form.action).path in ("", path):
            names += form.names
    return list(dict.fromkeys(names))


def changelist_parameters(path: str, user: Any) -> list[str]:
    """An admin changelist's parameters: its filters', search, ordering and paging, and a lookup
    on each field of the model (the admin filters on any of a model's own fields by name)."""
    try:
        match = resolve(path)
    except Resolver404:
        return []
    model_admin = getattr(match.func, "model_admin", None)
    if model_admin is None or not (match.url_name or "").endswith("_changelist"):
        return []
    request = RequestFactory().get(path)
    request.user = user
    changelist = model_admin.get_changelist_instance(request)
    names = [name for spec in changelist.filter_specs for name in spec.expected_parameters() if name]
    names += [SEARCH_VAR, ORDER_VAR, PAGE_VAR, ALL_VAR, ERROR_FLAG, IS_POPUP_VAR, TO_FIELD_VAR]
    names += [model_field.name for model_field in model_admin.model._meta.concrete_fields]
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Operation:
    """One operation of the OpenAPI schema whose path matches the URL swept."""

    method: str
    query: tuple[str, ...]
    #: Request-body properties, and which of them take a JSON object (or any JSON).
    properties: tuple[str, ...]
    objects: tuple[str, ...]
    example: dict[str, Any]


def _resolved(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not ref:
        return node
    found: dict[str, Any] = schema
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return found


def api_operations(schema: dict[str, Any], path: str) -> list[Operation]:
    """The schema's operations on ``path`` (its ``{id}`` and ``{key}`` match any segment)."""
    found: list[Operation] = []
    for template, item in schema.get("paths", {}).items():
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
        if not re.fullmatch(pattern, path):
            continue
        shared = item.get("parameters", [])
        for method, operation in item.items():
            if method == "parameters" or not isinstance(operation, dict):
                continue
            parameters = [_resolved(schema, p) for p in [*shared, *operation.get("parameters", [])]]
            content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            body = _resolved(schema, content.get("schema", {})) if content else {}
            properties = body.get("properties", {})
            objects = tuple(
                name
                for name, spec in properties.items()
                if _resolved(schema, spec).get("type") in (None, "object") and "$ref" not in spec
            )
            examples = list(content.get("examples", {}).values())
            found.append(
                Operation(
                    method=method,
                    query=tuple(p["name"] for p in parameters if p.get("in") == "query"),
                    properties=tuple(properties),
                    objects=objects,
                    example=dict(examples[0].get("value", {})) if examples else {},
                )
            )
    return found


_PLACEHOLDER = re.compile(r"\(\?P<\w+>[^)]*\)|<(?:\w+:)?\w+>")
MARK = "HOSTILE-VALUE-HERE"


def with_marked_parameter(route: str, index: int) -> str:
    """``route`` with its ``index``-th path parameter replaced by ``MARK`` (the others left to fill)."""
    matches = list(_PLACEHOLDER.finditer(route))
    found = matches[index]
    return route[: found.start()] + MARK + route[found.end() :]


def path_parameter_count(route: str) -> int:
    return len(_PLACEHOLDER.findall(route))
