"""The moderation pages under ``/admin/…``, for admins and moderators (everyone else gets a 404).

Server-rendered like the rest of the UI (``chat.web.pages``): each page reads
what it shows through the same domain functions the API calls, and every action
on it is a form that ``static/js/admin.js`` sends to the REST API, so each
action is an API call under ``/api/v1`` that writes an event to the log.

One module per section; ``routes`` gathers them. ``admin_page`` is the one guard.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from chat.web.admin import audit, base, bots, conversations, exports, reports, retention, settings, users

routes: list[BaseRoute] = [
    *base.routes,
    *reports.routes,
    *users.routes,
    *bots.routes,
    *conversations.routes,
    *settings.routes,
    *retention.routes,
    *exports.routes,
    *audit.routes,
]
