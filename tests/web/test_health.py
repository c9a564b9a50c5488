"""GET /health and /api/v1/health: the same answer, without a credential, from a real server."""

from __future__ import annotations

import httpx2

from tests.conftest import Live


async def test_health_answers_ok_at_both_paths_without_a_credential(live: Live) -> None:
    async with httpx2.AsyncClient(base_url=live.base_url) as http:
        for path in ("/health", "/api/v1/health"):
            response = await http.get(path)
            assert response.status_code == 200, path
            assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}, path
            assert response.headers["cache-control"] == "no-store"
