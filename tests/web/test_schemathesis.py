"""Schemathesis against a real ``chat serve`` process: every operation of ``GET /api/v1/openapi.json``,
with valid and invalid data generated from the document itself, authenticated as a real admin.

No response is a 5xx, and every response matches the document: its status code is one the operation
lists (or the ``default`` error), its content type and body match the schema. Where the two disagree
the document is fixed (chat/web/openapi.py, chat/web/schema.py), never the check.

The run is bounded: a fixed number of derandomized examples per operation, no example database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS

from chat.web.openapi import openapi_document
from chat.web.routes import build_routes
from tests.conftest import BACKENDS, _truncate_pg
from tests.integration.server import LOAD_TEST_ENV, ServerProcess

CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
EXAMPLES_PER_OPERATION = 15


class Admin:
    """The server's first account (an admin, as on any fresh loopback server) and an API token of it.

    A generated ``DELETE /tokens/{id}`` may revoke the token in use: ``renew()`` makes a new one then,
    so later operations are still tested past the 401."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.user_id, self.token = server.user_with_token("fuzzadmin")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def renew(self) -> None:
        """After a 401: a new token if the one in use was revoked."""
        if self.server.api("GET", "/me", self.token).status_code == 401:
            self.token = self._new_token()

    def _new_token(self) -> str:
        import httpx2

        with httpx2.Client(base_url=self.server.base_url, timeout=10) as client:
            login = {"username": "fuzzadmin", "password": "fuzzadmin-secret-pw"}
            assert client.post("/api/v1/session", json=login).status_code == 200
            created = client.post("/api/v1/tokens", json={"name": "fuzz"}, headers={"Origin": self.server.base_url})
            assert created.status_code == 201, created.text
            return str(created.json()["token"])


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = dict(LOAD_TEST_ENV)
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_migrated")
        asyncio.run(_truncate_pg(url))
        env["CHAT_DATABASE_URL"] = url
    process = ServerProcess(tmp_path_factory.mktemp("schemathesis"), env=env)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> Admin:
    return Admin(server)


@pytest.fixture(scope="module")
def api_schema(server: ServerProcess, admin: Admin) -> Any:
    return schemathesis.openapi.from_url(f"{server.base_url}/api/v1/openapi.json")


# The same document the server publishes, read here only to name one test per operation and mode.
# Invalid data needs something to make invalid: an operation with no parameter and no body gets none.
DOCUMENT = openapi_document(build_routes())
CASES = sorted(
    (method.upper(), path, mode)
    for path, ops in DOCUMENT["paths"].items()
    for method, op in ops.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or op["parameters"] or "requestBody" in op
)


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    CASES,
    ids=[f"{'valid' if mode is GenerationMode.POSITIVE else 'invalid'}-{m} {p}" for m, p, mode in CASES],
)
def test_every_operation_answers_as_documented(
    api_schema: Any, admin: Admin, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]
    checks = [CHECKS.get_one(name) for name in CHECK_NAMES]

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        response = case.call(headers=admin.headers(), timeout=30)
        if response.status_code == 401:
            admin.renew()
            response = case.call(headers=admin.headers(), timeout=30)
        case.validate_response(response, checks=checks, headers=admin.headers())

    check()
