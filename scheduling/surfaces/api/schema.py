"""drf-spectacular post-processing: answers every operation can give that no view produces itself."""

from __future__ import annotations

from typing import Any

#: The web server (gunicorn) refuses a request line or headers longer than its limits itself.
COMMON_RESPONSES = {"414": {"description": "The request line is too long (the web server's limit)."}}


def add_common_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                for status, response in COMMON_RESPONSES.items():
                    operation["responses"].setdefault(status, response)
    return result
