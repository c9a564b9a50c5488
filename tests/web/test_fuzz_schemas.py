"""Property tests: REST bodies and websocket frames generated FROM the command schemas, valid-shaped
and hostile, never get a 5xx or ``internal_error``, always a documented code, and a refusal changes
nothing.

The strategies read the same JSON Schema that ``GET /api/v1/openapi.json`` publishes
(``chat.web.schema.json_schema`` of each command), so a new field or command is fuzzed without
touching this file. Each generated value is either valid-shaped (types, lengths, enums and ranges of
the schema) or has one hostile mutation: an integer beyond 64 bits (up to thousands of digits), a
lone UTF-16 surrogate or a NUL character in a string or a key, nesting far deeper than any command,
a value of the wrong type, ``NaN``. Path and query parameters get the same treatment.

Examples are few per operation and derandomized (no example database): the suite stays fast and
deterministic.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from chat.store.db import Database
from chat.web.openapi import API_PREFIX, openapi_document
from chat.web.protocol import FRAMES
from chat.web.routes import build_routes
from chat.web.schema import json_schema
from tests.channels.messaging_support import channel, post
from tests.conftest import Live
from tests.factories import Cast
from tests.web.authhelp import as_user
from tests.web.hostile_support import api_error_codes, frame_error_codes, snapshot
from tests.web.socket_support import Connector, Peer, connector

DOCUMENT = openapi_document(build_routes())
COMPONENTS: dict[str, Any] = DOCUMENT["components"]["schemas"]
OPERATIONS = sorted((method.upper(), path) for path, ops in DOCUMENT["paths"].items() for method in ops)
DOCUMENTED_API = api_error_codes()
DOCUMENTED_FRAME = frame_error_codes()
FUZZ = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Raw:
    """JSON text written as it is: what ``json.dumps`` cannot or will not produce."""

    text: str


def dump(value: Any) -> str:
    """JSON text; lone surrogates and NULs become ``\\ud800`` / ``\\u0000`` escapes, as a client would send."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)


# --- strategies from JSON Schema --------------------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.floats(allow_nan=False), st.text(max_size=5))
HUGE_INTS = st.one_of(
    st.integers(min_value=2**63, max_value=10**80),
    st.integers(min_value=-(10**80), max_value=-(2**63) - 1),
    st.sampled_from([Raw("9" * 5000), Raw("-" + "9" * 5000), Raw("1" + "0" * 400)]),
)
SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
BAD_TEXT = st.one_of(
    st.tuples(st.text(max_size=8), SURROGATES, st.text(max_size=8)).map("".join),
    st.tuples(st.text(max_size=8), st.just("\x00"), st.text(max_size=8)).map("".join),
)
DEEP = st.integers(min_value=33, max_value=3000).map(lambda n: Raw("[" * n + "]" * n))
HOSTILE_VALUES = st.one_of(
    HUGE_INTS,
    BAD_TEXT,
    DEEP,
    st.lists(st.one_of(HUGE_INTS, BAD_TEXT), min_size=1, max_size=2),
    SCALARS,
    st.sampled_from([Raw("NaN"), Raw("-Infinity"), {}, []]),
)


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return COMPONENTS[ref.rsplit("/", 1)[1]] if ref else schema


def valid(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of the schema's shape: its types, enums, lengths and ranges."""
    schema = resolve(schema)
    if "anyOf" in schema:
        return st.one_of([valid(option) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: valid(v) for k, v in props.items() if k in required},
            optional={k: valid(v) for k, v in props.items() if k not in required},
        )
    if kind == "string":
        low, high = schema.get("minLength", 0), min(schema.get("maxLength", 30), 30)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).map(lambda s: s[: max(high, 1)])
        return st.text(min_size=min(low, high), max_size=high)
    if kind == "integer":
        low, high = schema.get("minimum", -(2**63)), schema.get("maximum", 2**63 - 1)
        return st.one_of(st.integers(max(low, -5), min(high, 50)), st.integers(low, high))
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(valid(schema.get("items", {})), max_size=min(schema.get("maxItems", 4), 4))
    return SCALARS


@st.composite
def hostile(draw: st.DrawFn, schema: dict[str, Any]) -> Any:
    """A valid-shaped value with one hostile mutation: in a field, in a list, in a key, or the whole."""
    body = draw(valid(schema))
    where = draw(st.sampled_from(["field", "field", "key", "whole"]))
    if where == "whole" or not isinstance(body, dict):
        return draw(st.one_of(HOSTILE_VALUES, st.just([body])))
    if where == "key":
        return {**body, draw(BAD_TEXT): draw(SCALARS)}
    props = sorted(resolve(schema).get("properties", {}))
    if not props:
        return {**body, "x": draw(HOSTILE_VALUES)}
    name = draw(st.sampled_from(props))
    return {**body, name: draw(HOSTILE_VALUES)}


def bodies(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    return st.one_of(valid(schema), hostile(schema), hostile(schema)).map(dump)


# --- REST ---------------------------------------------------------------------------------------


@dataclass
class Target:
    headers: dict[str, str]
    path_values: dict[str, dict[str, str]]  # path prefix -> parameter -> a real value


@pytest.fixture
async def target(app: Starlette, client: httpx2.AsyncClient, db: Database, cast: Cast) -> Target:
    general = await channel(db, cast.alice, "general", members=[cast.bob, cast.carol])
    message = await post(db, cast.alice, general, "hello", topic="plans")
    spare = await as_user(client, app, cast.alice)
    tokens = (await client.get(f"{API_PREFIX}/tokens", headers=spare)).json()["tokens"]
    headers = await as_user(client, app, cast.alice)  # the admin reaches the most code
    conv = {"id": str(general), "user_id": str(cast.carol.id), "topic": "plans"}
    return Target(
        headers,
        {
            "/conversations": conv,
            "/messages": {"id": str(message.id), "emoji": quote("👍")},
            "/users": {"id": str(cast.carol.id)},
            "/tokens": {"id": str(tokens[0]["id"])},
        },
    )


HOSTILE_PATH = st.sampled_from(["0", "9" * 19, "9" * 25, "9" * 5000, "%00", "a%00b", "%ED%A0%80", "-1", "1.5"])
HOSTILE_QUERY = st.one_of(
    st.sampled_from(["9" * 25, "-" + "9" * 5000, "%00", "%ED%A0%80", "1e3", "NaN", "", "true"]),
    st.integers(-(10**30), 10**30).map(str),
    st.text(max_size=10).map(quote),
)


@st.composite
def requests(draw: st.DrawFn, method: str, path: str) -> tuple[str, str | None]:
    op = DOCUMENT["paths"][path][method.lower()]
    url = path
    for param in op["parameters"]:
        if param["in"] == "path":
            value = draw(st.one_of(st.just(f"{{real:{param['name']}}}"), HOSTILE_PATH))
            url = url.replace("{" + param["name"] + "}", value)
    query = [
        f"{param['name']}={draw(st.one_of(valid(param['schema']).map(lambda v: quote(str(v))), HOSTILE_QUERY))}"
        for param in op["parameters"]
        if param["in"] == "query" and draw(st.booleans())
    ]
    if query:
        url += "?" + "&".join(query)
    body = None
    if "requestBody" in op:
        body = draw(bodies(op["requestBody"]["content"]["application/json"]["schema"]))
    return url, body


def fill(url: str, target: Target) -> str:
    for prefix, values in target.path_values.items():
        if url.startswith(API_PREFIX + prefix):
            for name, value in values.items():
                url = url.replace(f"{{real:{name}}}", value)
    return url


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
@FUZZ
@given(data=st.data())
async def test_rest_operations_never_fail_on_generated_input(
    client: httpx2.AsyncClient, db: Database, target: Target, method: str, path: str, data: st.DataObject
) -> None:
    url, body = data.draw(requests(method, path))
    url = fill(url, target)
    before = await snapshot(db)
    headers = {**target.headers, "Content-Type": "application/json"}
    response = await client.request(method, url, content=body, headers=headers)
    case = f"{method} {url[:100]} {(body or '')[:200]!r}"
    assert response.status_code < 500, (case, response.text[:500])
    if response.status_code >= 400:
        code = response.json()["error"]["code"]
        assert code in DOCUMENTED_API and code != "internal_error", (case, code)
        assert await snapshot(db) == before, case


# --- the websocket ------------------------------------------------------------------------------


@pytest.fixture
async def connect(live: Live) -> AsyncIterator[Connector]:
    async with connector(live) as opened:
        yield opened


FRAME_IDS = st.one_of(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1))
HOSTILE_IDS = st.one_of(HUGE_INTS, BAD_TEXT, st.just(True), st.just(None), st.text(min_size=65, max_size=70))


@st.composite
def frames(draw: st.DrawFn, fields_of: Callable[[str], dict[str, Any]]) -> tuple[object, str]:
    """(the id an answer must carry, the frame's text)."""
    kind = draw(st.sampled_from(sorted(FRAMES)))
    fields = draw(st.one_of(valid(fields_of(kind)), hostile(fields_of(kind))))
    if not isinstance(fields, dict):
        return None, dump(fields)
    if draw(st.integers(0, 9)) == 0:
        return None, dump({**fields, "type": kind, "id": draw(HOSTILE_IDS)})
    frame_id = draw(FRAME_IDS)
    return frame_id, dump({**fields, "type": kind, "id": frame_id})


def frame_schema(kind: str) -> dict[str, Any]:
    components: dict[str, Any] = {}
    ref = json_schema(FRAMES[kind], components)
    COMPONENTS.update(components)
    return ref


@pytest.fixture
async def bob(live: Live, db: Database, cast: Cast, connect: Connector) -> Peer:
    general = await channel(db, cast.bob, "general")
    await post(db, cast.bob, general, "hello", topic="plans")
    return await connect(cast.bob)


@settings(FUZZ, max_examples=60)
@given(generated=frames(frame_schema))
async def test_websocket_frames_never_fail_on_generated_input(
    db: Database, bob: Peer, generated: tuple[object, str]
) -> None:
    frame_id, raw = generated
    before = await snapshot(db)
    start = len(bob.log)
    await bob.send(raw)
    answer = await bob.wait_for(lambda f: f["type"] in ("ack", "error", "resumed"), start=start)
    if answer["type"] == "error":
        assert answer["code"] in DOCUMENTED_FRAME and answer["code"] != "internal_error", (raw[:300], answer)
        assert await snapshot(db) == before, raw[:300]
    unreadable = answer["type"] == "error" and answer["code"] == "invalid_json"  # no id to echo
    assert answer["id"] == (None if unreadable else frame_id), (raw[:300], answer)
    pong = await bob.request("ping")  # still open: a bad frame is answered, never a disconnect
    assert pong["type"] == "ack"
