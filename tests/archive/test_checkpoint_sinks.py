"""The server's periodic checkpoints: file and URL sinks, failures that never raise, sinks refused at startup."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete

from chat.app import create_app
from chat.archive.checkpoint_sinks import CheckpointWriter, history_path
from chat.archive.checkpoints import build_checkpoint, compare, parse_checkpoint, read_checkpoints
from chat.cli import main
from chat.config import Settings, SettingsError
from chat.store import models
from chat.store.db import Database
from tests.archive.test_audit import CHAIN_CONV, write_chain
from tests.factories import Cast

CHAIN = f"c{CHAIN_CONV}"


@pytest.fixture
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("elsewhere")


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A real HTTP server on 127.0.0.1 that records what is POSTed to it."""
    received: list[tuple[str, str, bytes]] = []
    handler = type("Recording", (Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/checkpoints", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def checkpoint_settings(settings: Settings, *sinks: str) -> Settings:
    return settings.replace(checkpoint_interval_s=300, checkpoint_sink=sinks)


async def test_the_app_writes_checkpoints_to_a_file_and_a_url(
    settings: Settings, cast: Cast, elsewhere: Path, receiver: tuple[str, list[tuple[str, str, bytes]]]
) -> None:
    url, received = receiver
    app = create_app(checkpoint_settings(settings, str(elsewhere / "cp.json"), url))
    writer = app.state.services.checkpoints
    assert isinstance(writer, CheckpointWriter) and writer.interval_s == 300
    db: Database = app.state.services.db
    try:
        await write_chain(db, cast.bob.id)
        assert await writer.write_once() == []
        await write_chain(db, cast.bob.id, n=2)
        assert await writer.write_once() == []

        newest = parse_checkpoint((elsewhere / "cp.json").read_text())
        assert newest.chains[CHAIN].seq == 7
        history = history_path(elsewhere / "cp.json").read_text().splitlines()
        assert [parse_checkpoint(line).chains[CHAIN].seq for line in history] == [5, 7]
        assert [(path, kind) for path, kind, _ in received] == [("/checkpoints", "application/json")] * 2
        posted = parse_checkpoint(received[-1][2].decode())
        assert posted.chains == newest.chains and json.loads(received[-1][2])["format"] == "salon-checkpoint"
        async with db.read() as s:
            assert await compare(s, [newest]) == []
            assert (await build_checkpoint(s)).chains == newest.chains
    finally:
        await db.dispose()


async def test_the_history_catches_a_cut_that_the_newest_checkpoint_hides(
    settings: Settings, cast: Cast, elsewhere: Path
) -> None:
    app = create_app(checkpoint_settings(settings, str(elsewhere / "cp.json")))
    writer, db = app.state.services.checkpoints, app.state.services.db
    try:
        ids = await write_chain(db, cast.bob.id)
        await writer.write_once()
        async with db.transaction() as s:
            await s.execute(delete(models.Event).where(models.Event.id == ids[-1]))
        await writer.write_once()  # the server, or whoever cut the log, writes the cut chain's head
        newest = parse_checkpoint((elsewhere / "cp.json").read_text())
        with history_path(elsewhere / "cp.json").open() as lines:
            history = list(read_checkpoints(lines))
        async with db.read() as s:
            assert await compare(s, [newest]) == []
            (finding,) = await compare(s, history)
        assert finding.chain == CHAIN and finding.problem.startswith("cut short: it has 4 event(s)")
    finally:
        await db.dispose()


async def test_a_failing_sink_is_reported_and_never_raises(settings: Settings, cast: Cast, elsewhere: Path) -> None:
    missing_dir = str(elsewhere / "no-such-dir" / "cp.json")
    refused = f"http://127.0.0.1:{closed_port()}/checkpoints"
    app = create_app(checkpoint_settings(settings, missing_dir, refused, str(elsewhere / "ok.json")))
    writer, db = app.state.services.checkpoints, app.state.services.db
    try:
        assert await writer.write_once() == [missing_dir, refused]
        assert (
            parse_checkpoint((elsewhere / "ok.json").read_text()).chains["system"].seq == 6
        )  # the others still got it
        async with app.router.lifespan_context(app):  # the periodic task starts and stops with the app
            pass
    finally:
        await db.dispose()


def test_checkpoints_are_off_by_default(tmp_path: Path) -> None:
    assert create_app(Settings(data_dir=tmp_path)).state.services.checkpoints is None


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"checkpoint_sink": ("{data}/cp.json",)}, "inside"),
        ({"checkpoint_sink": ("{data}",)}, "inside"),
        ({"checkpoint_sink": ("{data}/sub/../cp.json",)}, "inside"),
        ({"checkpoint_sink": ("http://example.com/cp",)}, "must be https://"),
        ({"checkpoint_sink": ("http://127.0.0.1.example.com/cp",)}, "must be https://"),
        ({"checkpoint_sink": ("ftp://127.0.0.1/cp",)}, "must be https://"),
        ({"checkpoint_sink": ("https:///cp",)}, "must be https://"),
        ({"checkpoint_sink": ()}, "checkpoint_sink is empty"),
        ({"checkpoint_interval_s": 0}, "checkpoint_interval_s is 0"),
        ({"checkpoint_interval_s": -5}, "checkpoint_interval_s must be"),
    ],
)
def test_bad_sinks_are_refused_when_settings_are_read(
    tmp_path: Path, elsewhere: Path, changes: dict[str, object], says: str
) -> None:
    values: dict[str, object] = {"checkpoint_interval_s": 60, "checkpoint_sink": (str(elsewhere / "cp.json"),)}
    values.update(changes)
    sinks = values["checkpoint_sink"]
    assert isinstance(sinks, tuple)
    values["checkpoint_sink"] = tuple(sink.replace("{data}", str(tmp_path)) for sink in sinks)
    with pytest.raises(SettingsError, match=says):
        Settings(data_dir=tmp_path, **values)  # type: ignore[arg-type]


def test_good_sinks_are_accepted(tmp_path: Path, elsewhere: Path) -> None:
    sinks = (str(elsewhere / "cp.json"), "https://audit.example.com/salon?token=x", "http://127.0.0.1:9/cp")
    assert Settings(data_dir=tmp_path, checkpoint_interval_s=60, checkpoint_sink=sinks).checkpoint_sink == sinks


def test_serve_refuses_a_sink_inside_the_data_dir(tmp_path: Path) -> None:
    env = {
        "CHAT_DATABASE_URL": "",
        "CHAT_CHECKPOINT_INTERVAL_S": "60",
        "CHAT_CHECKPOINT_SINK": f"https://audit.example.com/cp, {tmp_path / 'data' / 'cp.json'}",
    }
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path / "data")], env=env)
    assert result.exit_code == 2
    assert (
        "checkpoint_sink" in result.output
        and "is inside" in result.output
        and "keep checkpoints elsewhere" in (result.output)
    )
