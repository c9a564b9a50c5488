"""The single route table: REST API, websocket, pages and static files."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from chat.web import admin, files, pages, pwa, unsubscribe
from chat.web.api import (
    accounts,
    audit,
    bots,
    conversation_files,
    conversations,
    email,
    events,
    health,
    mail_address,
    messages,
    notifications,
    push,
    reports,
    retention,
    search,
    settings,
    storage,
    uploads,
)
from chat.web.archive import api as archive_api
from chat.web.archive import pages as archive_pages
from chat.web.openapi import API_PREFIX, openapi_endpoint
from chat.web.socket import websocket_endpoint

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"


def build_routes() -> list[BaseRoute]:
    return [
        Route(f"{API_PREFIX}/openapi.json", openapi_endpoint, methods=["GET"], name="openapi"),
        *accounts.routes,
        *bots.routes,
        *conversations.routes,
        *conversation_files.routes,
        *mail_address.routes,
        *messages.routes,
        *uploads.routes,
        *reports.routes,
        *search.routes,
        *retention.routes,
        *storage.routes,
        *events.routes,
        *archive_api.routes,
        *health.routes,
        *settings.routes,
        *audit.routes,
        *email.routes,
        *push.routes,
        *notifications.routes,
        Route("/health", health.health, methods=["GET"], name="health-probe"),  # where probes look first
        WebSocketRoute(f"{API_PREFIX}/ws", websocket_endpoint, name="ws"),
        *files.routes,
        *pages.routes,
        *pwa.routes,
        *admin.routes,
        *archive_pages.routes,
        *unsubscribe.routes,
        Mount("/static", app=StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
    ]
