"""HTML pages: first run, login, app shell, settings; security headers; CSRF on forms; i18n.

Through the public door only: HTTP requests to the real app.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx2
import pytest
from starlette.applications import Starlette

from chat.store.db import Database
from chat.web import i18n
from chat.web.pages import safe_next
from tests.accounts.helpers import set_registration_mode
from tests.factories import Cast, password_of

API = "/api/v1"
ORIGIN = "http://testserver"
EVIL = "https://evil.example"
ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "chat" / "web" / "templates"
STATIC_JS = ROOT / "static" / "js"


class Tags(HTMLParser):
    """Every start tag with its attributes, to check what a page would make the browser run."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def island(html: str, element_id: str) -> object:
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S)
    assert match is not None, f"no #{element_id} data island"
    return json.loads(match.group(1))


async def log_in(client: httpx2.AsyncClient, username: str) -> None:
    response = await client.post(
        f"{API}/session", json={"username": username, "password": password_of(username)}, headers={"Origin": ORIGIN}
    )
    assert response.status_code == 200, response.text


def assert_no_inline_code(html: str) -> None:
    """CSP forbids inline scripts and styles: the pages must not rely on any."""
    tags = parse(html)
    for tag, attrs in tags.tags:
        assert "style" not in attrs, f"inline style on <{tag}>"
        assert not [a for a in attrs if a.startswith("on")], f"inline event handler on <{tag}>"
        if tag == "script":
            assert attrs.get("src") or attrs.get("type") == "application/json", "inline executable script"
        if tag == "a":
            assert not (attrs.get("href") or "").lower().startswith("javascript:")
    assert "<style" not in html


# --- first run ---------------------------------------------------------------------------


async def test_a_fresh_install_leads_to_setup(client: httpx2.AsyncClient) -> None:
    for path in ("/", "/login", "/register"):
        response = await client.get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/setup"), path
    page = await client.get("/setup")
    assert page.status_code == 200
    assert 'data-action="setup"' in page.text
    assert_no_inline_code(page.text)


async def test_setup_creates_the_admin_then_disappears(client: httpx2.AsyncClient) -> None:
    created = await client.post(
        f"{API}/users", json={"username": "founder", "password": "founder-pw-123"}, headers={"Origin": ORIGIN}
    )
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "admin"
    response = await client.get("/setup")
    assert (response.status_code, response.headers["location"]) == (303, "/login")


# --- signed out / signed in ----------------------------------------------------------------


async def test_signed_out_visitors_are_sent_to_login(client: httpx2.AsyncClient, cast: Cast) -> None:
    response = await client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/"
    settings = await client.get("/settings")
    assert settings.headers["location"] == "/login?next=/settings"


async def test_login_and_register_pages_render_without_inline_code(client: httpx2.AsyncClient, cast: Cast) -> None:
    for path, marker in (("/login", 'data-action="login"'), ("/register", 'data-action="register"')):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert marker in page.text
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
        assert_no_inline_code(page.text)
        catalog = island(page.text, "i18n")
        assert isinstance(catalog, dict)
        assert catalog["login.title"] == "Log in"


async def test_login_page_keeps_only_a_local_next(client: httpx2.AsyncClient, cast: Cast) -> None:
    page = await client.get("/login", params={"next": "https://evil.example/x"})
    assert 'data-next="/"' in page.text
    page = await client.get("/login", params={"next": "/#/c/4"})
    assert 'data-next="/#/c/4"' in page.text


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (None, "/"),
        ("", "/"),
        ("/", "/"),
        ("/settings", "/settings"),
        ("/#/c/3/t/hello", "/#/c/3/t/hello"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_safe_next(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


async def test_the_app_shell_for_a_signed_in_user(client: httpx2.AsyncClient, cast: Cast) -> None:
    await log_in(client, "bob")
    page = await client.get("/")
    assert page.status_code == 200
    boot = island(page.text, "boot")
    assert isinstance(boot, dict)
    assert boot["user"]["id"] == cast.bob.id
    assert boot["ws_path"] == "/api/v1/ws"
    assert '<script type="module" src="/static/js/app.js"></script>' in page.text
    for landmark in ('<header class="topbar">', '<nav class="sidebar"', '<main class="main"', 'role="search"'):
        assert landmark in page.text
    assert_no_inline_code(page.text)
    # A signed-in user asking for the login page goes on to the app.
    again = await client.get("/login", params={"next": "/settings"})
    assert (again.status_code, again.headers["location"]) == (303, "/settings")


async def test_hostile_display_names_stay_text(client: httpx2.AsyncClient, db: Database, cast: Cast) -> None:
    await set_registration_mode(db, "open")
    hostile = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"
    response = await client.post(
        f"{API}/users",
        json={"username": "mallory", "password": "mallory-pw-1", "display_name": hostile},
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 201, response.text
    login = await client.post(
        f"{API}/session", json={"username": "mallory", "password": "mallory-pw-1"}, headers={"Origin": ORIGIN}
    )
    assert login.status_code == 200
    for path in ("/", "/settings"):
        page = await client.get(path)
        assert page.status_code == 200
        assert "<script>alert(1)" not in page.text
        assert "<img src=x" not in page.text
        assert_no_inline_code(page.text)
        boot = island(page.text, "boot")
        assert isinstance(boot, dict)
        assert boot["user"]["display_name"] == hostile  # the island holds the exact text, escaped


async def test_the_settings_page(client: httpx2.AsyncClient, cast: Cast) -> None:
    await log_in(client, "carol")
    page = await client.get("/settings")
    assert page.status_code == 200
    for form in ("profile-form", "password-form", "language-form", "notify-form"):
        assert f'id="{form}"' in page.text
    assert 'value="Carol"' in page.text
    assert_no_inline_code(page.text)


async def test_a_form_posted_without_javascript_changes_nothing(client: httpx2.AsyncClient, cast: Cast) -> None:
    response = await client.post(
        "/login", data={"username": "bob", "password": password_of("bob")}, headers={"Origin": ORIGIN}
    )
    assert response.status_code == 400
    assert "needs JavaScript" in response.text
    assert "salon_session" not in response.cookies


# --- security headers ----------------------------------------------------------------------


def assert_security_headers(response: httpx2.Response) -> None:
    csp = response.headers["content-security-policy"]
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] in ("same-origin", "strict-origin-when-cross-origin")


async def test_every_response_carries_the_security_headers(client: httpx2.AsyncClient, cast: Cast) -> None:
    for path in ("/login", "/", f"{API}/me", f"{API}/openapi.json", "/static/js/app.js", "/static/nope.js"):
        assert_security_headers(await client.get(path))
    await log_in(client, "bob")
    assert_security_headers(await client.get("/"))


async def test_static_files_are_served_with_their_types(client: httpx2.AsyncClient) -> None:
    js = await client.get("/static/js/socket.js")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]
    css = await client.get("/static/css/base.css")
    assert css.headers["content-type"].startswith("text/css")


# --- CSRF ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}],
    ids=["foreign-origin", "cross-site", "opaque-origin"],
)
async def test_a_cross_site_logout_form_is_refused(
    client: httpx2.AsyncClient, cast: Cast, headers: dict[str, str]
) -> None:
    await log_in(client, "bob")
    response = await client.post("/logout", headers=headers)
    assert response.status_code == 403
    assert "another site" in response.text
    assert (await client.get(f"{API}/me")).status_code == 200  # still signed in


async def test_logout_from_this_origin_ends_the_session(client: httpx2.AsyncClient, cast: Cast) -> None:
    await log_in(client, "bob")
    response = await client.post("/logout", headers={"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"})
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert (await client.get(f"{API}/me")).status_code == 401
    assert (await client.get("/")).status_code == 303


async def test_a_cross_site_api_request_with_the_cookie_is_refused(
    client: httpx2.AsyncClient, cast: Cast, app: Starlette
) -> None:
    await log_in(client, "bob")
    before = (await client.get(f"{API}/conversations?browse=public")).json()["conversations"]
    response = await client.post(
        f"{API}/conversations", json={"kind": "public", "name": "forged"}, headers={"Origin": EVIL}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (403, "csrf_failed")
    after = (await client.get(f"{API}/conversations?browse=public")).json()["conversations"]
    assert after == before


async def test_a_cross_site_login_is_refused(client: httpx2.AsyncClient, cast: Cast) -> None:
    response = await client.post(
        f"{API}/session", json={"username": "bob", "password": password_of("bob")}, headers={"Origin": EVIL}
    )
    assert response.status_code == 403
    assert "salon_session" not in response.cookies


# --- language ------------------------------------------------------------------------------


async def test_the_language_follows_the_browser_then_the_choice(client: httpx2.AsyncClient, cast: Cast) -> None:
    french = await client.get("/login", headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in french.text
    assert "Connexion" in french.text
    await log_in(client, "bob")
    chosen = await client.post(
        "/settings/language", data={"lang": "en"}, headers={"Origin": ORIGIN, "Accept-Language": "fr"}
    )
    assert (chosen.status_code, chosen.headers["location"]) == (303, "/settings?saved=language")
    assert chosen.cookies.get(i18n.LANG_COOKIE) == "en"
    english = await client.get("/", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in english.text
    back = await client.post("/settings/language", data={"lang": "auto"}, headers={"Origin": ORIGIN})
    assert back.status_code == 303
    assert '<html lang="fr">' in (await client.get("/", headers={"Accept-Language": "fr"})).text


async def test_a_cross_site_language_form_is_refused(client: httpx2.AsyncClient, cast: Cast) -> None:
    response = await client.post("/settings/language", data={"lang": "fr"}, headers={"Origin": EVIL})
    assert response.status_code == 403
    assert i18n.LANG_COOKIE not in response.cookies


@pytest.mark.parametrize(
    ("header", "preferred", "expected"),
    [
        (None, None, "en"),
        ("fr", None, "fr"),
        ("de-DE,fr;q=0.8,en;q=0.7", None, "fr"),
        ("en;q=0.2,fr;q=0.9", None, "fr"),
        ("fr;q=0, en", None, "en"),
        ("*", None, "en"),
        ("garbage;;q=x,,", None, "en"),
        ("fr", "en", "en"),
        ("en", "fr-BE", "fr"),
        ("fr", "xx", "fr"),
    ],
)
def test_negotiate(header: str | None, preferred: str | None, expected: str) -> None:
    assert i18n.negotiate(header, preferred) == expected


def test_translate_fills_placeholders_and_falls_back() -> None:
    assert i18n.translate("fr", "app.welcome", name="Zoé") == "Bienvenue, Zoé"
    assert i18n.translate("en", "no.such.key") == "no.such.key"
    assert i18n.translate("en", "app.welcome") == "Welcome, {name}"


# --- the catalogs cover every string the UI uses -------------------------------------------


def used_keys() -> set[str]:
    keys: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        keys.update(re.findall(r"""_\(["']([a-z_]+\.[a-z_.]+)["']""", template.read_text()))
    for script in STATIC_JS.rglob("*.js"):
        keys.update(re.findall(r'\bt\("([a-z_]+\.[a-z_.]+)"', script.read_text()))
    return keys


def test_the_catalogs_have_the_same_keys_and_every_used_key() -> None:
    english, french = i18n.catalog("en"), json.loads((i18n.LOCALES_DIR / "fr.json").read_text())
    assert set(english) == set(french)
    missing = sorted(used_keys() - set(english))
    assert not missing, f"strings used but missing from en.json: {missing}"
    for key, text in english.items():
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", french[key])), key


def test_only_the_server_html_path_writes_html_into_the_page() -> None:
    """Message bodies enter the DOM only as the server's sanitised HTML, through one function."""
    for script in STATIC_JS.rglob("*.js"):
        text = script.read_text()
        for pattern in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            if script.name == "dom.js" and pattern == "innerHTML":
                assert text.count("innerHTML") == 1, "dom.js: innerHTML only in setServerHtml"
                continue
            assert pattern not in text, f"{script.relative_to(ROOT)} uses {pattern}"


def test_views_never_touch_the_socket() -> None:
    for script in (STATIC_JS / "views").glob("*.js"):
        text = script.read_text()
        assert "socket" not in text.lower(), f"{script.name} talks to the socket; send an intent instead"
        assert "WebSocket" not in text
