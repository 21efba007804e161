"""OpenAI-shaped error responses: ``{"error": {"message", "type", "param", "code"}}``.

Every non-2xx answer of the mock goes through ``error_response`` so that no path can fall back
to a plain-text or HTML page. The ``error_body_shape`` fault replaces the object with the bare
message string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from starlette.responses import Response

__all__ = ["INVALID_REQUEST", "SERVER_ERROR", "ApiError", "error_response"]

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"
JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class ApiError:
    """One error answer: HTTP status, the four OpenAI error fields and extra headers."""

    status: int
    message: str
    type: str = INVALID_REQUEST
    param: str | None = None
    code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self, faults: frozenset[str]) -> bytes:
        """Encode the error body (a bare string under the ``error_body_shape`` fault)."""
        if "error_body_shape" in faults:
            return orjson.dumps({"error": self.message})
        return orjson.dumps(
            {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        )


def error_response(error: ApiError, faults: frozenset[str], request_id: str) -> Response:
    """Render ``error`` as a JSON response carrying ``x-request-id``."""
    headers = {**error.headers, "x-request-id": request_id}
    return Response(error.body(faults), status_code=error.status, headers=headers, media_type=JSON_MEDIA_TYPE)
