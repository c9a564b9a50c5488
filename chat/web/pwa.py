"""The installable app: ``/manifest.webmanifest`` and the service worker at ``/sw.js``.

The service worker is served from the root, not from ``/static/``, because a worker controls
only the paths under its own URL: from ``/sw.js`` its scope is ``/``, the whole UI, without a
``Service-Worker-Allowed`` header. It is ``static/sw.js`` served as ``text/javascript`` and
revalidated on every load (``no-cache``), so an update reaches browsers at once; the usual
security headers (CSP included) apply to it as to every response.

Both are public: the login page links the manifest too, and neither holds anything private.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
ICON_SIZES = (192, 512)
THEME = "#3b5bdb"  # --accent of static/css/base.css

MANIFEST = {
    "name": "Salon",
    "short_name": "Salon",
    "description": "Team chat",
    "id": "/",
    "start_url": "/",
    "scope": "/",
    "display": "standalone",
    "background_color": "#ffffff",
    "theme_color": THEME,
    "icons": [
        {"src": f"/static/img/icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png", "purpose": "any"}
        for size in ICON_SIZES
    ],
}


async def manifest(request: Request) -> Response:
    return JSONResponse(
        MANIFEST, media_type="application/manifest+json", headers={"cache-control": "public, max-age=3600"}
    )


async def service_worker(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "sw.js", media_type="text/javascript", headers={"cache-control": "no-cache"})


routes: list[BaseRoute] = [
    Route("/manifest.webmanifest", manifest, methods=["GET"], name="manifest"),
    Route("/sw.js", service_worker, methods=["GET"], name="service-worker"),
]
