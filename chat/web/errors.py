"""ChatError (and every other failure) into one JSON shape, HTML page or frame.

API responses: ``{"error": {"code": "<stable_snake_case>", "message": "..."}}``.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat.errors import ChatError, RateLimited, Unavailable

log = logging.getLogger(__name__)

# Codes for errors raised by Starlette itself rather than by Salon.
_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_body(code: str, message: str, **data: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **data}}


def error_response(exc: ChatError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited | Unavailable) else None
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.status, headers=headers)


async def handle_chat_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ChatError):  # pragma: no cover - registered for ChatError only
        raise exc
    return error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException only
        raise exc
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(error_body("internal_error", "the server failed; the error is logged"), status_code=500)


EXCEPTION_HANDLERS = {
    ChatError: handle_chat_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
