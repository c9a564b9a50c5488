"""The docs cannot drift: every route, CLI command, error code and setting is documented.

These tests fail when someone adds a route, a command, an error code or a
setting without documenting it; the failure says what is missing and where
it belongs.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import jsonschema
import pytest
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

import chat.errors
from chat.app import create_app
from chat.config import Settings, setting_names
from chat.web import errors as web_errors
from chat.web.openapi import API_PREFIX, openapi_document

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHAT = ROOT / "chat"

README_RUN = "python3 -m venv .venv && .venv/bin/pip install -c requirements/runtime.txt -e . && .venv/bin/chat serve"
README_TEST = "python3 -m venv .venv && .venv/bin/pip install -c requirements/lock.txt -e '.[dev]' && .venv/bin/pytest"


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def load_cli_doc_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- routes ------------------------------------------------------------------------------------


def api_endpoints(routes: list[BaseRoute], prefix: str = "") -> Iterator[str]:
    """``METHOD /path`` for every HTTP and websocket route under /api/v1 (converters dropped)."""
    for route in routes:
        if isinstance(route, Mount):
            yield from api_endpoints(list(route.routes), prefix + route.path)
            continue
        if not isinstance(route, Route | WebSocketRoute):
            continue
        path = re.sub(r"{(\w+):\w+}", r"{\1}", prefix + route.path)
        if not path.startswith(API_PREFIX + "/"):
            continue
        if isinstance(route, WebSocketRoute):
            yield f"GET {path}"
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            yield f"{method} {path}"


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("docs")))
    return sorted(set(api_endpoints(list(app.routes))))


def test_every_api_route_is_in_api_md(endpoints: list[str]) -> None:
    assert f"GET {API_PREFIX}/openapi.json" in endpoints
    text = read("api.md")
    documented = set(re.findall(r"^#{2,4} `?([A-Z]+ /api/v1/\S*?)`?\s*$", text, flags=re.MULTILINE))
    missing = [e for e in endpoints if e not in documented]
    assert not missing, (
        "routes missing from docs/api.md (add a heading '### `METHOD /path`' with a request and response example): "
        + ", ".join(missing)
    )


def test_api_md_documents_no_route_that_does_not_exist(endpoints: list[str]) -> None:
    documented = set(re.findall(r"^#{2,4} `?([A-Z]+ /api/v1/\S*?)`?\s*$", read("api.md"), flags=re.MULTILINE))
    stale = sorted(documented - set(endpoints))
    assert not stale, f"docs/api.md documents routes the app does not have: {', '.join(stale)}"


def api_md_examples() -> Iterator[tuple[str, str, int | None, str]]:
    """(``METHOD /path``, "request" or "response", status, JSON text) for each example under a route heading."""
    route = label = None
    lines = iter(read("api.md").splitlines())
    for line in lines:
        heading = re.match(r"^#{2,4} `?([A-Z]+ /api/v1/\S*?)`?\s*$", line)
        if heading or line.startswith("#"):
            route, label = (heading.group(1) if heading else None), None
        elif line.startswith("```"):
            block = list(itertools.takewhile(lambda text: not text.startswith("```"), lines))
            if route is not None and line.strip() == "```json" and label is not None:
                status = re.search(r"`(\d{3})`", label)
                kind = "request" if label.startswith("Request") else "response"
                yield route, kind, int(status.group(1)) if status else None, "\n".join(block)
        elif line.strip():
            label = line if line.startswith(("Request", "Response")) else None


def test_api_md_examples_match_the_openapi_schemas(tmp_path: Path) -> None:
    """Every JSON example under a route heading is valid against that route's schema (or the error schema)."""
    app = create_app(Settings(data_dir=tmp_path))
    doc = openapi_document(list(app.routes))
    components = doc["components"]
    checked = 0
    for route, kind, status, text in api_md_examples():
        method, path = route.split(" ", 1)
        op = doc["paths"].get(path, {}).get(method.lower())
        if op is None:
            continue  # test_api_md_documents_no_route_that_does_not_exist reports it
        where = f"docs/api.md, {route}, {kind} example {text[:60]!r}"
        try:
            example = json.loads(text)
        except json.JSONDecodeError as exc:
            pytest.fail(f"{where}: not JSON: {exc}")
        if kind == "request":
            assert "requestBody" in op, f"{where}: this route takes no request body"
            schema = op["requestBody"]["content"]["application/json"]["schema"]
        elif isinstance(example, dict) and "error" in example:
            schema = {"$ref": "#/components/schemas/Error"}
            assert example["error"]["code"] in all_error_codes(), f"{where}: unknown error code"
        else:
            response = op["responses"].get(str(status), {})
            if "content" not in response:
                continue  # e.g. "200 when it existed": same schema as the documented success status
            schema = response["content"]["application/json"]["schema"]
        errors = sorted(
            jsonschema.Draft202012Validator({**schema, "components": components}).iter_errors(example), key=str
        )
        assert not errors, f"{where} does not match the schema: {errors[0].message} at {list(errors[0].path)}"
        checked += 1
    assert checked > 10


# --- CLI ---------------------------------------------------------------------------------------


def test_every_cli_command_is_in_cli_md() -> None:
    generator = load_cli_doc_generator()
    text = read("cli.md")
    missing = [path for path in generator.command_paths() if f"## `{path}`" not in text]
    assert not missing, f"commands missing from docs/cli.md: {missing}; run .venv/bin/python scripts/gen_cli_docs.py"


def test_cli_md_is_generated_from_the_help() -> None:
    generator = load_cli_doc_generator()
    assert read("cli.md") == generator.render(), (
        "docs/cli.md differs from the commands' --help: regenerate it with .venv/bin/python scripts/gen_cli_docs.py"
    )


# --- error codes -------------------------------------------------------------------------------


def error_classes() -> dict[str, int | None]:
    """ChatError and its subclasses in chat.errors: name -> position of ``code`` among positional args."""
    classes: dict[str, int | None] = {}
    for name, obj in vars(chat.errors).items():
        if inspect.isclass(obj) and issubclass(obj, chat.errors.ChatError):
            params = [p for p in inspect.signature(obj.__init__).parameters.values() if p.name != "self"]
            positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            classes[name] = positional.index("code") if "code" in positional else None
    return classes


def raised_codes(source: str, classes: dict[str, int | None]) -> Iterator[tuple[str, int]]:
    """(code, line) for each ``SomeError("code", ...)`` and each ``anything(code="code")`` with a literal code."""
    tree = ast.parse(source)
    # Subclasses defined outside chat.errors (class SlowConsumer(ChatError)) take ChatError's signature.
    local = dict(classes)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {
                b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in node.bases
            }
            if bases & set(local):
                local[node.name] = classes["ChatError"]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        # code="..." counts in any call (a rate limiter built with the code it will raise) ...
        candidates = [kw.value for kw in node.keywords if kw.arg == "code"]
        # ... and so does the positional code of an error class.
        position = local.get(name or "")
        if name in local and position is not None and len(node.args) > position:
            candidates.append(node.args[position])
        for value in candidates:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                yield value.value, node.lineno


def all_error_codes() -> dict[str, str]:
    """Every error code the server can answer with -> where it comes from."""
    classes = error_classes()
    codes: dict[str, str] = {}
    for name in classes:
        cls = getattr(chat.errors, name)
        codes.setdefault(cls.default_code, f"chat/errors.py ({name} default)")
    for path in sorted(CHAT.rglob("*.py")):
        for code, line in raised_codes(path.read_text(encoding="utf-8"), classes):
            codes.setdefault(code, f"{path.relative_to(ROOT)}:{line}")
    for code in web_errors._HTTP_CODES.values():
        codes.setdefault(code, "chat/web/errors.py _HTTP_CODES")
    codes.setdefault("http_error", "chat/web/errors.py (other HTTP errors)")
    codes.setdefault("internal_error", "chat/web/errors.py (unexpected exceptions)")
    return codes


def test_error_code_collector_finds_the_known_ones() -> None:
    codes = all_error_codes()
    for code in ("malformed_json", "unknown_field", "wrong_type", "missing_field", "too_long", "internal_error"):
        assert code in codes
    sample = "\n".join(
        [
            'RateLimited(3, "login_limited")',
            'errors.NotFound(code="x_y")',
            'Limiter(5, code="z")',
            "class Slow(Conflict): ...",
            'Slow("slow")',
        ]
    )
    assert sorted(c for c, _ in raised_codes(sample, error_classes())) == ["login_limited", "slow", "x_y", "z"]


def test_every_error_code_is_in_api_md() -> None:
    text = read("api.md")
    missing = {code: where for code, where in sorted(all_error_codes().items()) if f"`{code}`" not in text}
    assert not missing, "error codes missing from docs/api.md (add each to the error-code table): " + ", ".join(
        f"{code} ({where})" for code, where in missing.items()
    )


# --- settings ----------------------------------------------------------------------------------


def test_every_setting_is_in_operations_md() -> None:
    text = read("operations.md")
    missing = [f"CHAT_{name.upper()}" for name in setting_names() if f"`CHAT_{name.upper()}`" not in text]
    assert not missing, f"settings missing from docs/operations.md (add a row to the settings table): {missing}"


# --- README and CI -----------------------------------------------------------------------------


def test_readme_gives_the_two_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert README_RUN in readme and README_TEST in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for step in README_TEST.split(" && "):
        assert step in ci, f".ci/run does not run the README's step {step!r}"


def test_docs_link_to_files_that_exist() -> None:
    for doc in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            assert (doc.parent / target).exists(), f"{doc.relative_to(ROOT)} links to missing {target}"
