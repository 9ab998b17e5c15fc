"""Every API error is JSON: a validation error names each field (``{"cron": ["..."]}``), others say ``detail``.

Errors raised below the API (the models' validation, the services' state errors) are turned into
the same shapes here, so a view never formats an error itself.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from orchestrator.errors import BackfillStateError, RowDeletedError, RunStateError, UnknownJobError
from scheduling.surfaces.input_checks import contains_surrogate

logger = logging.getLogger(__name__)


class TooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource is not in a state that allows this action."
    default_code = "conflict"


def printable(value: Any) -> Any:
    """``value`` with each lone surrogate written out (``\\ud800``): an error may quote the input
    (``"\\ud800" is not a valid choice``), and a surrogate cannot be encoded into the answer."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8") if contains_surrogate(value) else value
    if isinstance(value, dict):
        return {printable(key): printable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [printable(item) for item in value]
    return value


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):  # the models' validation, a constraint's refusal, a bad query
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, UnknownJobError):
        exc = exceptions.ValidationError({"job": [str(exc)]})
    elif isinstance(exc, RunStateError | BackfillStateError):
        exc = Conflict(str(exc))
    elif isinstance(exc, RowDeletedError):  # an edit racing a delete: as if the delete came first
        exc = exceptions.NotFound(str(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = TooLarge(f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    response = drf_exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        logger.exception("unhandled error in %s", type(view).__name__ if view else "the API", exc_info=exc)
        return Response({"detail": "Internal error; it was logged."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    response.data = printable(response.data)
    return response
