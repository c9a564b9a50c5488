"""API routes that describe themselves, and the OpenAPI 3 document built from them.

Every REST endpoint is declared with :func:`api_route`, naming its request
command and response type; ``GET /api/v1/openapi.json`` walks the route table,
so a route cannot exist without its schemas.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chat import __version__
from chat.validation import INT64_MAX
from chat.web.schema import json_schema

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Query:
    name: str
    type: type = str
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class ApiSpec:
    summary: str
    request: Any = None
    response: Any = None
    status: int = 200
    auth: bool = True
    query: Sequence[Query] = ()
    errors: Sequence[str] = field(default_factory=tuple)  # error codes this route may answer
    also: Sequence[int] = ()  # other success statuses with the same response (200 for a retried create)


class ApiRoute(Route):
    def __init__(self, path: str, endpoint: Callable[[Request], Any], *, method: str, spec: ApiSpec) -> None:
        super().__init__(API_PREFIX + path, endpoint, methods=[method], name=f"{method} {path}")
        self.method = method
        self.spec = spec


def api_route(
    method: str,
    path: str,
    endpoint: Callable[[Request], Any],
    summary: str,
    *,
    request: Any = None,
    response: Any = None,
    status: int = 200,
    auth: bool = True,
    query: Sequence[Query] = (),
    errors: Sequence[str] = (),
    also: Sequence[int] = (),
) -> ApiRoute:
    return ApiRoute(
        path,
        endpoint,
        method=method,
        spec=ApiSpec(summary, request, response, status, auth, tuple(query), tuple(errors), tuple(also)),
    )


def _plain_path(path: str) -> str:
    """``/users/{id:int}`` → ``/users/{id}`` (OpenAPI has no converters)."""
    return re.sub(r"{(\w+):\w+}", r"{\1}", path)


def _operation_id(route: ApiRoute) -> str:
    path = _plain_path(route.path.removeprefix(API_PREFIX))
    return f"{route.method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', path)}".rstrip("_")


def _path_schema(convertor: str) -> dict[str, Any]:
    if convertor in ("id", "int"):  # chat.web.http.IdConvertor: ids of 64-bit columns
        return {"type": "integer", "minimum": 1, "maximum": INT64_MAX}
    return {"type": "string"}


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def openapi_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for route in routes:
        if not isinstance(route, ApiRoute):
            continue
        spec = route.spec
        params = [
            {"name": name, "in": "path", "required": True, "schema": _path_schema(conv)}
            for name, conv in re.findall(r"{(\w+)(?::(\w+))?}", route.path)
        ]
        params += [
            {
                "name": q.name,
                "in": "query",
                "required": q.required,
                "description": q.description,
                "schema": json_schema(q.type, components),
            }
            for q in spec.query
        ]
        success: dict[str, Any] = {"description": "success"}
        if spec.response is not None:
            success["content"] = {"application/json": {"schema": json_schema(spec.response, components)}}
        responses = {str(status): success for status in (spec.status, *spec.also)}
        responses["default"] = {
            "description": "an error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        op: dict[str, Any] = {
            "summary": spec.summary,
            "operationId": _operation_id(route),
            "parameters": params,
            "responses": responses,
        }
        if spec.request is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": json_schema(spec.request, components)}},
            }
        if spec.auth:
            op["security"] = [{"session": []}, {"bearer": []}]
        path = _plain_path(route.path)
        paths.setdefault(path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Salon API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "salon_session"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


async def openapi_endpoint(request: Request) -> Response:
    return JSONResponse(openapi_document(request.app.routes))
