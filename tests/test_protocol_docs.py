"""docs/protocol.md cannot drift from the server.

* Every client example (a fenced block after ``<!-- send: NAME -> TYPE [CODE] -->``) is sent to a real
  server; the answer must have the documented type (and error code), and the shape of the ``reply``
  example after it (keys, recursively, and JSON types).
* Every server example (``<!-- receive: TYPE -->``) has the shape of a frame the server really sends.
* Every client frame type, server frame type, error code a frame can get and close code the server
  uses is documented, and nothing else is.

In the examples, conversation 42 and message 981 stand for a channel of the sender and a message of
theirs in it; the test substitutes real ids for exactly these values.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import types
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest

import chat.realtime.connection
import chat.web.protocol
from chat.app import create_app
from chat.config import Settings
from chat.store.db import Database
from chat.validation import Checked, Limits
from chat.web.protocol import FRAMES
from tests.channels.messaging_support import channel, post
from tests.conftest import Live
from tests.factories import Cast
from tests.test_docs import error_classes, raised_codes
from tests.web.socket_support import Connector, Frame, Peer, connector

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "protocol.md"
CHAT = ROOT / "chat"

EXAMPLE_CONVERSATION = 42
EXAMPLE_MESSAGE = 981

_BLOCK = re.compile(r"<!-- (send: .+?|receive: \w+|reply) -->\s*```(\w+)\n(.*?)```", re.DOTALL)
_SEND = re.compile(r"send: (.+?) -> (\w+)(?: (\w+))?$")


@dataclass
class Example:
    kind: str  # "send" or "receive"
    name: str
    text: str
    expect_type: str = ""
    expect_code: str | None = None
    reply: Any = None

    @property
    def frame(self) -> Any:
        try:
            return json.loads(self.text)
        except json.JSONDecodeError:
            return None


def examples() -> list[Example]:
    found: list[Example] = []
    for marker, _lang, text in _BLOCK.findall(DOC.read_text(encoding="utf-8")):
        if marker == "reply":
            assert found and found[-1].kind == "send" and found[-1].reply is None, "a reply must follow a send"
            found[-1].reply = json.loads(text)
        elif marker.startswith("receive: "):
            found.append(Example("receive", marker.removeprefix("receive: "), text))
        else:
            match = _SEND.match(marker)
            assert match, f"bad marker <!-- {marker} -->"
            found.append(Example("send", match[1], text.strip(), match[2], match[3]))
    return found


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def shape_problems(doc: Any, real: Any, path: str = "$") -> Iterator[str]:
    """Differences of keys (recursively) and JSON types; ``null`` on either side matches anything."""
    if doc is None or real is None:
        return
    if isinstance(doc, dict) and isinstance(real, dict):
        if set(doc) != set(real):
            yield f"{path}: documented {sorted(doc)}, the server sent {sorted(real)}"
        for key in sorted(set(doc) & set(real)):
            yield from shape_problems(doc[key], real[key], f"{path}.{key}")
    elif isinstance(doc, list) and isinstance(real, list):
        if doc and real:
            yield from shape_problems(doc[0], real[0], f"{path}[0]")
    elif type(doc) is not type(real):
        yield f"{path}: documented a {type(doc).__name__}, the server sent a {type(real).__name__}"


def test_the_shape_check_sees_what_matters() -> None:
    assert not list(shape_problems({"a": 1, "b": [{"c": "x"}], "d": None}, {"a": 2, "b": [{"c": "y"}], "d": {}}))
    assert list(shape_problems({"a": 1}, {"a": 1, "b": 2}))
    assert list(shape_problems({"a": [{"c": 1}]}, {"a": [{"c": "1"}]}))
    assert list(shape_problems({"a": True}, {"a": 1}))


# --- frame types -------------------------------------------------------------------------------------


def test_the_examples_are_well_formed() -> None:
    found = examples()
    sends = [e for e in found if e.kind == "send"]
    assert len(sends) >= len(FRAMES)
    ids = [e.frame["id"] for e in sends if isinstance(e.frame, dict)]
    assert len(ids) == len(set(ids)), "each example frame needs its own id"
    for example in sends:
        assert example.reply is not None, f"send example {example.name!r} has no reply example"
        assert example.reply["type"] == example.expect_type, example.name
        assert example.reply.get("code") == example.expect_code, example.name


def test_every_client_frame_type_has_a_heading_and_a_working_example() -> None:
    found = examples()
    client = section("Client frames")
    for type_ in FRAMES:
        assert f"\n### {type_}\n" in client, f"docs/protocol.md: no '### {type_}' under Client frames"
        ok = [e for e in found if e.kind == "send" and isinstance(e.frame, dict) and e.frame.get("type") == type_]
        assert any(e.expect_type != "error" for e in ok), f"docs/protocol.md: no successful example of {type_!r}"


def test_every_client_frame_type_is_dispatched_by_the_one_handler_table() -> None:
    from chat.web.socket_handlers import HANDLERS

    assert set(HANDLERS) == set(FRAMES)
    assert {"ping", "resume", "typing"} <= set(HANDLERS)
    socket_source = (CHAT / "web" / "socket.py").read_text(encoding="utf-8")
    assert "frame.type ==" not in socket_source, "chat.web.socket special-cases a frame type: add it to HANDLERS"


def server_frame_types() -> set[str]:
    """Every ``{"type": "..."}`` literal the server builds a frame from."""
    types_: set[str] = set()
    web = CHAT / "web"
    for path in (web / "protocol.py", web / "socket.py", web / "socket_handlers.py", CHAT / "realtime" / "frames.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "type" and isinstance(value, ast.Constant):
                        types_.add(str(value.value))
    return types_


def test_every_server_frame_type_is_documented_with_an_example() -> None:
    types_ = server_frame_types()
    assert {"hello", "ack", "error", "event", "resumed", "typing", "presence"} <= types_
    server = section("Server frames")
    shown = {e.name for e in examples() if e.kind == "receive"}
    shown |= {e.reply["type"] for e in examples() if e.kind == "send"}
    for type_ in sorted(types_):
        assert f"\n### {type_}\n" in server, f"docs/protocol.md: no '### {type_}' under Server frames"
        assert type_ in shown, f"docs/protocol.md: no example of a {type_!r} frame"


# --- the examples against a real server --------------------------------------------------------------


@pytest.fixture
async def connect(live: Live) -> AsyncIterator[Connector]:
    async with connector(live) as opened:
        yield opened


async def answer(peer: Peer, example: Example, frame: Any) -> Frame:
    start = len(peer.log)
    await peer.send(json.dumps(frame, ensure_ascii=False) if isinstance(frame, dict) else example.text)
    frame_id = frame.get("id") if isinstance(frame, dict) else None
    if frame_id is not None:
        return await peer.reply(frame_id, start=start)
    return await peer.wait_for(lambda f: f["type"] == "error" and f["id"] is None, start=start)


async def test_every_example_works_against_a_real_server(
    live: Live, db: Database, cast: Cast, connect: Connector
) -> None:
    general = await channel(db, cast.alice, "general", members=[cast.bob, cast.carol])
    bob = await connect(cast.bob)
    carol = await connect(cast.carol)  # after bob, so that bob is told carol came online
    await bob.wait_for(lambda f: f["type"] == "presence")
    real: dict[str, list[Frame]] = {"hello": [bob.hello], "presence": [f for f in bob.log if f["type"] == "presence"]}
    problems: list[str] = []
    for example in examples():
        if example.kind != "send":
            continue
        frame = example.frame
        if isinstance(frame, dict):
            message = (await post(db, cast.bob, general, body="to be changed", topic="Q3 tender")).id
            ids = {"conversation": {EXAMPLE_CONVERSATION: general}, "message": {EXAMPLE_MESSAGE: message}}
            ids["up_to_message_id"] = ids["message"]
            frame = {k: ids.get(k, {}).get(v, v) if isinstance(v, int) else v for k, v in frame.items()}
        got = await answer(bob, example, frame)
        if got["type"] != example.expect_type or got.get("code") != example.expect_code:
            problems.append(f"{example.name}: documented {example.expect_type} {example.expect_code or ''}, got {got}")
            continue
        problems += [f"{example.name} reply {p}" for p in shape_problems(example.reply, got)]
        real.setdefault(got["type"], []).append(got)
    real["typing"] = [await carol.wait_for(lambda f: f["type"] == "typing")]
    real["event"] = [f for f in carol.log if f["type"] == "event"]
    for example in examples():
        if example.kind != "receive":
            continue
        documented = json.loads(example.text)
        candidates = [
            f
            for f in real.get(example.name, [])
            if example.name != "event" or f["event"]["kind"] == documented["event"]["kind"]
        ]
        assert candidates, f"the server sent no {example.name!r} frame like the example"
        problems += [f"{example.name} example {p}" for p in shape_problems(documented, candidates[0])]
    assert not problems, "docs/protocol.md differs from the server:\n" + "\n".join(problems)


# --- error codes -------------------------------------------------------------------------------------

# The modules a frame's handling runs through, found by following imports from the socket modules
# inside these packages. Accounts and authentication are left out: they answer at the handshake,
# before the socket exists (their codes are the handshake's).
_FRAME_PATH = ("chat.web.socket", "chat.web.socket_handlers", "chat.web.protocol")
_FRAME_PACKAGES = ("chat.channels", "chat.validation", "chat.web.schema", *_FRAME_PATH)

# Codes those modules can raise that no frame can get, and why (checked below where it can be).
UNREACHABLE = {
    "invalid_body": "the protocol answers a non-object frame with bad_frame before parsing fields",
    "wrong_value": "no frame or command built from a frame has an enumerated (Literal) field",
    "too_few": "no list field of a frame or of a command built from a frame has a minimum number of items",
    "too_short": "no frame or command built from a frame has a minimum length above 1 (below 1 is empty)",
    "nothing_to_change": "raised by the topic and user update commands, which no frame builds",
}


def _module_path(module: str) -> Path:
    path = ROOT / (module.replace(".", "/") + ".py")
    return path if path.exists() else ROOT / module.replace(".", "/") / "__init__.py"


def frame_modules() -> set[str]:
    seen: set[str] = set()
    todo = list(_FRAME_PATH)
    while todo:
        module = todo.pop()
        if module in seen or not module.startswith(_FRAME_PACKAGES) or not _module_path(module).exists():
            continue
        seen.add(module)
        for node in ast.walk(ast.parse(_module_path(module).read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                todo.append(node.module)
                todo.extend(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                todo.extend(alias.name for alias in node.names)
    return seen


def frame_error_codes(tmp_path: Path) -> set[str]:
    classes = error_classes()
    codes = {
        code
        for module in frame_modules()
        for code, _line in raised_codes(_module_path(module).read_text(encoding="utf-8"), classes)
    }
    app = create_app(Settings(data_dir=tmp_path))
    codes.add(app.state.services.post_limiter.code)  # the limiter the socket shares with REST
    return codes - set(UNREACHABLE)


def documented_error_codes() -> set[str]:
    return set(re.findall(r"^\| `(\w+)` \|", section("Error codes"), flags=re.MULTILINE))


def test_every_error_code_a_frame_can_get_is_documented(tmp_path: Path) -> None:
    codes = frame_error_codes(tmp_path)
    assert {"invalid_json", "frame_too_large", "rate_limited", "conversation_not_found", "nonce_reused"} <= codes
    documented = documented_error_codes()
    assert not codes - documented, f"error codes missing from docs/protocol.md: {sorted(codes - documented)}"
    assert not documented - codes, f"docs/protocol.md lists codes no frame gets: {sorted(documented - codes)}"


def _commands_built_by_handlers() -> list[type[Checked]]:
    import chat.web.socket_handlers as handlers

    tree = ast.parse(Path(handlers.__file__).read_text(encoding="utf-8"))
    names = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    built = [getattr(handlers, n) for n in sorted(names) if isinstance(getattr(handlers, n, None), type)]
    return [cls for cls in built if issubclass(cls, Checked)]


def test_the_codes_left_out_are_really_unreachable() -> None:
    with pytest.raises(chat.web.protocol.FrameError) as refused:
        chat.web.protocol.parse_frame("[]")
    assert refused.value.error.code == "bad_frame"
    commands = _commands_built_by_handlers()
    assert commands, "socket_handlers builds no command? the check below would be empty"
    for cls in [*FRAMES.values(), *commands]:
        assert cls.__post_init__ is Checked.__post_init__, f"{cls.__name__} has checks of its own: revisit UNREACHABLE"
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            options = get_args(hints[f.name]) if get_origin(hints[f.name]) is types.UnionType else (hints[f.name],)
            lim: Limits | None = f.metadata.get("limits")
            for hint in options:
                assert get_origin(hint) is not Literal, f"{cls.__name__}.{f.name}: revisit UNREACHABLE"
                if get_origin(hint) in (list, tuple):
                    assert lim is None or not lim.min_items, f"{cls.__name__}.{f.name}: revisit UNREACHABLE"
            assert lim is None or (lim.min_len or 0) <= 1, f"{cls.__name__}.{f.name}: revisit UNREACHABLE"


# --- close codes -------------------------------------------------------------------------------------

# Sent by the websocket layer (uvicorn), or seen by clients, rather than chosen by Salon's code.
TRANSPORT_CLOSE_CODES = {
    1006: "no close frame: the connection dropped",
    1007: "a text frame that is not UTF-8",
    1009: "a frame above ws_max_size",
    1012: "the server process shuts down",
}


def close_codes_used() -> dict[int, str]:
    """CLOSE_* constants that some module of chat/ refers to (not only defines)."""
    constants = {
        name: value
        for module in (chat.realtime.connection, chat.web.protocol)
        for name, value in vars(module).items()
        if name.startswith("CLOSE_") and isinstance(value, int)
    }
    used: dict[int, str] = {}
    for path in sorted(CHAT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
            if name in constants and not isinstance(getattr(node, "ctx", None), ast.Store):
                used[constants[name]] = name
    return used


def test_every_close_code_the_server_uses_is_documented() -> None:
    used = close_codes_used()
    assert {4001, 4003, 4008} <= set(used)
    documented = {int(code) for code in re.findall(r"^\| (\d{4}) \|", section("Close codes"), flags=re.MULTILINE)}
    assert not set(used) - documented, f"close codes missing from docs/protocol.md: {sorted(set(used) - documented)}"
    unused = documented - set(used) - set(TRANSPORT_CLOSE_CODES)
    assert not unused, f"docs/protocol.md lists close codes the server never sends: {sorted(unused)}"
