"""Error answers of the simulated APIs: the error envelope, its ``type`` names, the headers."""

from __future__ import annotations

import json
from typing import Any

import httpx

from app.simulator.common import NOT_FOUND, ApiError
from app.simulator.enterprise import SimEnterpriseOrg
from app.simulator.world import SimOrg

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def not_found(*_: Any) -> Any:
    raise ApiError(404, NOT_FOUND)


def not_allowed(*_: Any) -> Any:
    # The product only reads; writes are not simulated.
    raise ApiError(405, "Method not allowed: the simulator serves GET requests only.")


def error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "invalid_request_error" if status < 500 else "api_error"


def response_headers(request_id: str, org: SimOrg | SimEnterpriseOrg | None) -> dict[str, str]:
    headers = {"request-id": request_id, "content-type": "application/json"}
    if org is not None:
        headers["anthropic-organization-id"] = org.id
    return headers


def error_response(
    exc: ApiError, request_id: str, org: SimOrg | SimEnterpriseOrg | None
) -> httpx.Response:
    """The error envelope of ``exc``, with its extra headers."""
    envelope = {
        "type": "error",
        "error": {"type": error_type(exc.status), "message": exc.message},
        "request_id": request_id,
    }
    headers = {**response_headers(request_id, org), **exc.headers}
    return httpx.Response(exc.status, content=json.dumps(envelope), headers=headers)
