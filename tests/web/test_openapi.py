"""``GET /api/v1/openapi.json``: a valid OpenAPI 3.1 document that lists every API route with its schemas."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx2
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from chat.app import create_app
from chat.config import Settings
from chat.validation import Checked, limits
from chat.web.openapi import API_PREFIX, ApiRoute, Query, api_route, openapi_document
from tests.test_docs import all_error_codes


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    application = create_app(Settings(data_dir=tmp_path, allowed_hosts=("testserver",)))
    yield application
    await application.state.services.db.dispose()


@pytest.fixture
async def document(app: Starlette) -> dict[str, Any]:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as client:
        response = await client.get(f"{API_PREFIX}/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def api_routes(app: Starlette) -> list[ApiRoute]:
    return [route for route in app.routes if isinstance(route, ApiRoute)]


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local $refs are expected, got {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"$ref {ref} does not resolve"
        node = node[part]
    return node


def check_document(doc: dict[str, Any], routes: list[ApiRoute]) -> None:
    """The checks every generated document must pass, whatever its routes."""
    OpenAPIV31SpecValidator(doc).validate()  # the official OpenAPI 3.1 meta-schema
    assert doc["openapi"].startswith("3.")
    for ref in refs(doc):
        resolve(doc, ref)
    for name, schema in doc["components"]["schemas"].items():
        if schema.get("type") == "object":
            missing = set(schema.get("required", ())) - set(schema.get("properties", {}))
            assert not missing, f"schema {name} requires undeclared properties {missing}"
    operation_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"
    for route in routes:
        path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
        assert path in doc["paths"], f"{route.method} {path} is missing from the OpenAPI document"
        op = doc["paths"][path].get(route.method.lower())
        assert op is not None, f"{route.method} {path} is missing from the OpenAPI document"
        assert op["summary"] == route.spec.summary
        declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), f"{route.method} {path}: path parameters"
        queries = {p["name"] for p in op["parameters"] if p["in"] == "query"}
        assert queries == {q.name for q in route.spec.query}
        if route.spec.request is not None:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            assert resolve(doc, schema["$ref"])["type"] == "object", f"{route.method} {path}: request schema"
        else:
            assert "requestBody" not in op
        success = op["responses"][str(route.spec.status)]
        if route.spec.response is not None:
            assert "schema" in success["content"]["application/json"], f"{route.method} {path}: response schema"
        error = op["responses"]["default"]["content"]["application/json"]["schema"]
        assert resolve(doc, error["$ref"])["required"] == ["error"]
        assert ("security" in op) == route.spec.auth, f"{route.method} {path}: security follows auth="


async def test_openapi_json_lists_every_api_route(app: Starlette, document: dict[str, Any]) -> None:
    check_document(document, api_routes(app))
    assert document["info"]["title"] == "Salon API"
    assert set(document["components"]["securitySchemes"]) == {"session", "bearer"}


def test_route_error_codes_are_codes_the_server_raises(app: Starlette) -> None:
    known = set(all_error_codes())
    for route in api_routes(app):
        unknown = set(route.spec.errors) - known
        assert not unknown, f"{route.method} {route.path} declares error codes nothing raises: {sorted(unknown)}"


# A synthetic API, so the generator is tested on every kind of field whatever routes exist today.


@dataclass(frozen=True)
class Owner:
    id: int
    name: str


@dataclass(frozen=True)
class Widget:
    """A widget as the API returns it."""

    id: int
    kind: Literal["round", "square"]
    owner: Owner
    tags: list[str]
    parent: Widget | None = None


@dataclass(frozen=True)
class CreateWidget(Checked):
    name: str = field(metadata=limits(min_len=1, max_len=60, strip=True, description="1-60 characters"))
    kind: Literal["round", "square"] = "round"
    size: int = field(default=1, metadata=limits(minimum=1, maximum=10))
    tags: list[str] = field(default_factory=list, metadata=limits(max_items=8))
    owner_id: int | None = None


@dataclass(frozen=True)
class WidgetList:
    widgets: list[Widget]


async def _endpoint(request: Request) -> Response:
    return Response()


def test_generator_handles_every_field_kind() -> None:
    routes = [
        api_route("GET", "/widgets", _endpoint, "List widgets", response=WidgetList, query=[Query("q", str, "search")]),
        api_route("POST", "/widgets", _endpoint, "Create a widget", request=CreateWidget, response=Widget, status=201),
        api_route("GET", "/widgets/{id:int}", _endpoint, "Get a widget", response=Widget),
        api_route("DELETE", "/widgets/{id:int}/tags/{tag:str}", _endpoint, "Untag", status=204),
        api_route("GET", "/ping", _endpoint, "Ping", auth=False),
    ]
    doc = openapi_document(routes)
    check_document(doc, routes)
    schemas = doc["components"]["schemas"]
    create = schemas["CreateWidget"]
    assert create["required"] == ["name"]
    assert create["additionalProperties"] is False
    assert create["properties"]["name"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 60,
        "description": "1-60 characters",
    }
    assert create["properties"]["size"]["maximum"] == 10
    assert create["properties"]["tags"]["maxItems"] == 8
    assert create["properties"]["kind"] == {"enum": ["round", "square"]}
    assert schemas["Widget"]["properties"]["parent"] == {
        "anyOf": [{"$ref": "#/components/schemas/Widget"}, {"type": "null"}]
    }
    assert schemas["Widget"]["description"] == "A widget as the API returns it."
    tag_params = doc["paths"]["/api/v1/widgets/{id}/tags/{tag}"]["delete"]["parameters"]
    assert [(p["name"], p["schema"]["type"]) for p in tag_params] == [("id", "integer"), ("tag", "string")]
