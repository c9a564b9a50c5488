"""REST endpoint: ``GET /api/v1/health``, for load balancers, monitors and operators.

It asks the database one trivial query (with a timeout, so it never hangs) and
reads the broker's and the store's own state; it needs no credential and
reveals nothing but these three words.

* ``ok`` (200): the database answers, the last write succeeded, the broker
  reaches every server process.
* ``degraded`` (200): the server still serves its own clients, keep it in
  rotation: the broker (Redis) is down (live delivery stays within this process;
  the others' clients catch up by resume once it returns), or the storage is
  full (reads go on, writes answer 503 ``storage_full``).
* ``down`` (503, the standard error body plus the same fields, code
  ``database_unavailable``): the database does not answer; nothing works here.

Like Kubernetes probes and most load balancers expect: only a server that
cannot serve answers non-2xx, so a Redis outage does not take every process
out of rotation at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from chat.web.openapi import api_route
from chat.web.state import services


@dataclass(frozen=True)
class HealthOut:
    """The server's state; ``status`` sums up ``database`` and ``broker``."""

    status: Literal["ok", "degraded", "down"]
    database: Literal["ok", "storage_full", "unavailable"]
    broker: Literal["ok", "unavailable"]


async def health(request: Request) -> Response:
    svc = services(request)
    if not await svc.db.ping():
        database = "unavailable"
    else:
        database = "storage_full" if svc.db.storage_full else "ok"
    broker = "ok" if svc.hub.broker.connected else "unavailable"
    body = {"database": database, "broker": broker}
    headers = {"Cache-Control": "no-store"}
    if database == "unavailable":
        error = {"code": "database_unavailable", "message": "the database does not answer"}
        return JSONResponse({"error": error, "status": "down", **body}, status_code=503, headers=headers)
    status = "ok" if database == "ok" and broker == "ok" else "degraded"
    return JSONResponse({"status": status, **body}, headers=headers)


routes: list[BaseRoute] = [
    api_route(
        "GET",
        "/health",
        health,
        "The server's health: ok, degraded (Redis down or storage full) or down (503, database unreachable)",
        response=HealthOut,
        auth=False,
        errors=["database_unavailable"],
    )
]
