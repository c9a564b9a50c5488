"""Helpers shared by the REST endpoints: read a JSON body into a command, read path and query
parameters, answer JSON.

Input is refused here, where it is parsed, before any domain code runs: a body
goes through ``chat.web.schema.loads`` (syntax, depth, 64-bit integers, no lone
surrogates) and the command's own checks; an integer path or query parameter
must fit a 64-bit column; a text path or query parameter must hold no NUL
character (which PostgreSQL text columns refuse) and no lone surrogate.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse

from chat.errors import BadRequest, Invalid, NotFound, TooLarge
from chat.validation import INT64_MAX, check_chars
from chat.web.schema import JsonError, loads, parse, refuse_surrogates, to_json

T = TypeVar("T")

MAX_BODY_BYTES = 64 * 1024  # a message body is at most 10,000 characters: 64 KiB of JSON is plenty

ID_MAX = INT64_MAX  # the largest id a database column holds
_INTEGER = re.compile(r"-?[0-9]+")
_ID_DIGITS = len(str(ID_MAX))


async def read_json(request: Request) -> Any:
    """The request's JSON body; 400 ``malformed_json`` when it is not JSON this server reads
    (syntax, nesting), 413 when too big, 422 ``bad_format`` for a lone surrogate."""
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
        value = loads(raw)
    except JsonError as exc:
        raise BadRequest("malformed_json", f"the request body is not valid JSON: {exc}") from None
    refuse_surrogates(value)
    return value


async def read_command(request: Request, cls: type[T]) -> T:
    """Parse the JSON body into the command dataclass ``cls`` (422 on a wrong field)."""
    return parse(cls, await read_json(request))


def int_query(request: Request, name: str, minimum: int = 0, maximum: int = ID_MAX) -> int | None:
    """An integer query parameter (None when absent or empty); 422 ``wrong_type`` / ``out_of_range``."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not _INTEGER.fullmatch(raw):
        raise Invalid("wrong_type", f"{name} must be an integer", field=name)
    if len(raw.lstrip("-").lstrip("0")) > _ID_DIGITS or not minimum <= int(raw) <= maximum:
        raise Invalid("out_of_range", f"{name} must be between {minimum} and {maximum}", field=name)
    return int(raw)


def text_query(request: Request, name: str, max_len: int) -> str | None:
    """A text query parameter (None when absent or empty); 422 ``too_long`` / ``bad_format``."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    if len(raw) > max_len:
        raise Invalid("too_long", f"{name} is longer than {max_len} characters", field=name, limit=max_len)
    return check_chars(name, raw)


def moment(raw: str, name: str, *, end_of_day: bool = False, code: str = "bad_date") -> datetime:
    """A date (``2026-12-01``, a UTC day: its start, or with ``end_of_day`` the next day's) or an ISO
    8601 date-time (UTC when it has no offset) as an aware UTC datetime; 422 ``code`` otherwise,
    the years at either end of the calendar included (no overflow reaches the database)."""
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime.combine(day + timedelta(days=1 if end_of_day else 0), time(), tzinfo=UTC)
        value = datetime.fromisoformat(raw)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise Invalid(code, f"{name} must be a date (2026-12-01) or an ISO 8601 date-time", field=name) from None


def flag_query(request: Request, name: str) -> bool | None:
    """A true/false query parameter (None when absent or empty); 422 ``wrong_type`` otherwise."""
    raw = request.query_params.get(name, "").lower()
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    if raw == "":
        return None
    raise Invalid("wrong_type", f"{name} must be true or false", field=name)


class IdConvertor(Convertor[int]):
    """``{name:id}``: digits read as an id; one too long for any column reads as ``ID_MAX + 1``
    (a 404 in :func:`path_id`), so thousands of digits never reach ``int()``."""

    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        if len(value.lstrip("0")) > _ID_DIGITS:
            return ID_MAX + 1
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())


def path_id(request: Request, name: str = "id") -> int:
    """An ``{id:id}`` path parameter; an id no column can hold names nothing (404)."""
    raw = request.path_params[name]
    if not isinstance(raw, int):
        raise Invalid("bad_id", f"{name} must be an integer")
    if raw > ID_MAX:
        raise NotFound("not_found", f"no such {name}")
    return raw


def path_text(request: Request, name: str) -> str:
    """A text path parameter; 422 ``bad_format`` when it holds a NUL character."""
    return check_chars(name, str(request.path_params[name]))


def json_ok(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(to_json(value), status_code=status, headers=headers)
