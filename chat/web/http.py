"""Helpers shared by the REST endpoints: read a JSON body into a command, answer JSON."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse

from chat.errors import BadRequest, Invalid, NotFound, TooLarge
from chat.web.schema import parse, to_json

T = TypeVar("T")

MAX_BODY_BYTES = 64 * 1024  # a message body is at most 10,000 characters: 64 KiB of JSON is plenty


async def read_json(request: Request) -> Any:
    """The request's JSON body; 400 when it is not JSON, 413 when too big."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise TooLarge("body_too_large", f"the request body is larger than {MAX_BODY_BYTES} bytes")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise TooLarge("body_too_large", f"the request body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("malformed_json", f"the request body is not valid JSON: {exc}") from None


async def read_command(request: Request, cls: type[T]) -> T:
    """Parse the JSON body into the command dataclass ``cls`` (422 on a wrong field)."""
    return parse(cls, await read_json(request))


ID_MAX = 2**63 - 1  # the largest id a database column holds


def int_query(request: Request, name: str, minimum: int = 0, maximum: int = ID_MAX) -> int | None:
    """An integer query parameter (None when absent or empty); 422 ``wrong_type`` / ``out_of_range``."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise Invalid("wrong_type", f"{name} must be an integer", field=name) from None
    if not minimum <= value <= maximum:
        raise Invalid("out_of_range", f"{name} must be between {minimum} and {maximum}", field=name)
    return value


def path_id(request: Request, name: str = "id") -> int:
    """An ``{id:int}`` path parameter; an id no column can hold names nothing (404)."""
    raw = request.path_params[name]
    if not isinstance(raw, int):
        raise Invalid("bad_id", f"{name} must be an integer")
    if raw > ID_MAX:
        raise NotFound("not_found", f"no such {name}")
    return raw


def json_ok(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(to_json(value), status_code=status, headers=headers)
