"""The services every endpoint reaches through ``request.app.state.services``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from chat.config import Settings
from chat.store.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    # Filled in by later layers (realtime hub, rate limiters); typed where they are built.
    extras: dict[str, Any] = field(default_factory=dict)


def services(conn: HTTPConnection) -> Services:
    svc: Services = conn.app.state.services
    return svc
