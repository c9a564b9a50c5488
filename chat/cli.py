"""The ``chat`` command: serve, migrate, accounts and audit.

Each command builds its own Settings from the environment (``CHAT_*``) and
its flags, so the CLI and the server read configuration the same way.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click

from chat.config import Settings, SettingsError
from chat.errors import ChatError
from chat.store.db import Database
from chat.store.migrate import upgrade

T = TypeVar("T")


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def run_with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` against a migrated database, then close it."""

    async def main() -> T:
        db = Database(settings.db_url)
        try:
            await upgrade(db.engine)
            return await work(db)
        finally:
            await db.dispose()

    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return asyncio.run(main())


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for the SQLite database and uploads [env CHAT_DATA_DIR; default ./salon-data].",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="salon-chat")
def main() -> None:
    """Salon: a self-hosted team chat server with topic channels.

    Configuration comes from CHAT_* environment variables (see docs/operations.md);
    CHAT_DATABASE_URL selects PostgreSQL, e.g. postgresql+asyncpg://user@host/db.
    """


@main.command()
@click.option("--host", default=None, help="Address to listen on [default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [default 8000].")
@click.option(
    "--smtp-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Also receive mail for CHAT_MAIL_DOMAIN by SMTP on this port, on the same address "
    "[env CHAT_SMTP_LISTEN=host:port; default: no receiver].",
)
@data_dir_option
def serve(host: str | None, port: int | None, smtp_port: int | None, data_dir: Path | None) -> None:
    """Run the server (UI, API and websocket on one port); migrates the database first.

    On an address other machines can reach, with no account yet, it prints a one-time setup token:
    the first account (the administrator) needs it. With CHAT_CHECKPOINT_INTERVAL_S and
    CHAT_CHECKPOINT_SINK set, it writes an audit checkpoint (see `chat audit checkpoint`) to each
    sink (a file outside the data dir, or an https:// URL it POSTs to) every that many seconds.
    """
    import uvicorn

    from chat.app import create_app, server_config

    settings = load_settings(host=host, port=port, data_dir=data_dir)
    if smtp_port is not None:
        settings = load_settings(host=host, port=port, data_dir=data_dir, smtp_listen=f"{settings.host}:{smtp_port}")
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    app = create_app(settings, migrate=True, setup_token=_setup_token(settings))
    uvicorn.Server(server_config(app, settings)).run()


def _setup_token(settings: Settings) -> str:
    """Make and print the setup token when the server is reachable by others and has no account yet
    ("": none made)."""
    from chat.accounts.users import has_users
    from chat.web.hosts import reachable_by_others

    if not reachable_by_others(settings):
        return ""

    async def work(db: Database) -> bool:
        async with db.read() as session:
            return await has_users(session)

    if run_with_db(settings, work):
        return ""
    token = secrets.token_urlsafe(24)
    base = settings.public_origin.rstrip("/") or f"http://<this server's address>:{settings.port}"
    click.echo(
        "Salon has no account yet. Create the administrator at\n"
        f"    {base}/setup?token={token}\n"
        f"(setup token {token}: good for the first account only, until this server stops),\n"
        "or with `chat create-admin`.",
        err=True,
    )
    return token


@main.command()
@data_dir_option
def migrate(data_dir: Path | None) -> None:
    """Create or upgrade the database schema to the latest version."""
    settings = load_settings(data_dir=data_dir)

    async def work(db: Database) -> None:
        return None

    run_with_db(settings, work)
    click.echo(f"database is up to date ({_safe_url(settings.db_url)})")


@main.command("create-admin")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--display-name", default=None, help="The name shown to others [default: USERNAME].")
@data_dir_option
def create_admin_command(username: str, password_stdin: bool, display_name: str | None, data_dir: Path | None) -> None:
    """Create an administrator account; the password is asked twice (or read with --password-stdin)."""
    from chat.accounts.users import create_admin

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = load_settings(data_dir=data_dir)

    async def work(db: Database) -> Any:
        async with db.transaction() as session:
            return await create_admin(session, username, password, display_name)

    try:
        user = run_with_db(settings, work)
    except ChatError as exc:
        raise click.ClickException(f"{exc.message} ({exc.code})") from None
    click.echo(f"administrator {user.username} created (id {user.id})")


@main.command("create-bot")
@click.argument("name")
@click.option("--owner", required=True, help="Username of the person responsible for the bot.")
@data_dir_option
def create_bot_command(name: str, owner: str, data_dir: Path | None) -> None:
    """Create a bot account and print its API token (shown once: store it now)."""
    from chat.accounts.tokens import create_bot

    settings = load_settings(data_dir=data_dir)

    async def work(db: Database) -> Any:
        async with db.transaction() as session:
            return await create_bot(session, None, name, owner)

    try:
        created = run_with_db(settings, work)
    except ChatError as exc:
        raise click.ClickException(f"{exc.message} ({exc.code})") from None
    click.echo(f"bot {created.user.username} created (id {created.user.id}); its token, shown once:", err=True)
    click.echo(created.token)


@main.group()
def audit() -> None:
    """Check the tamper-evident event log."""


@audit.command("verify")
@click.option(
    "--conversation",
    "conversation_id",
    type=int,
    default=None,
    help="Verify only this conversation's chain, and compare only its rows with the replayed log.",
)
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Also hold the chains to this checkpoint file (from `chat audit checkpoint`, or a sink's "
    ".history, every line of it): fail if a chain it names is gone, has fewer events, or was rewritten "
    "below its checkpointed head. Events added since are fine.",
)
@click.option(
    "--export",
    "export_file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Instead, check an HTML export bundle (its zip, or the folder it was unpacked to) with the "
    "checks of the verify.py inside it: every file against the manifest, the chains of events.jsonl "
    "from genesis, every message against its events. Needs no database.",
)
@data_dir_option
def audit_verify(
    conversation_id: int | None, checkpoint_file: Path | None, export_file: Path | None, data_dir: Path | None
) -> None:
    """Verify every hash chain of the event log (exit 1 and name the first bad event if one breaks).

    Then replay the log and compare it with the tables people read (messages, revisions,
    reactions, memberships): exit 1 and name the first difference in each table. Every file a
    live message carries is read from the file store and hashed: a swapped or missing file is
    named (its upload and message).
    With --export, check an exported archive bundle instead (exit 1 and name its first problem).
    """
    if export_file is not None:
        from chat.archive.verifier import main as verify_bundle_main

        sys.exit(verify_bundle_main([str(export_file)]))
    from chat.archive.audit import AuditReport, verify_log
    from chat.archive.checkpoints import CheckpointError, Finding, compare
    from chat.archive.replay import ReplayReport, replay_log
    from chat.files.storage import store_for

    settings = load_settings(data_dir=data_dir)
    checkpoints = []
    if checkpoint_file is not None:
        try:
            checkpoints = _read_checkpoints(checkpoint_file)
        except CheckpointError as exc:
            raise click.ClickException(f"cannot read the checkpoint: {exc}") from None
        if conversation_id is not None:
            only = f"c{conversation_id}"
            checkpoints = [replace(c, chains={k: v for k, v in c.chains.items() if k == only}) for c in checkpoints]

    async def work(db: Database) -> tuple[AuditReport, list[Finding], ReplayReport]:
        async with db.read(threaded=True) as session:
            report = await verify_log(session, conversation_id)
            findings = await compare(session, checkpoints) if checkpoints else []
            return report, findings, await replay_log(session, conversation_id, store_for(settings.upload_path))

    try:
        report, findings, replayed = run_with_db(settings, work)
    except ChatError as exc:
        raise click.ClickException(exc.message) from exc
    bad = report.first_problem
    if bad is not None:
        click.echo(f"FAILED: chain {bad.chain}: event {bad.bad_event_id} (seq {bad.bad_seq}): {bad.problem}", err=True)
    if report.missing_events:
        message_id, event_id = report.missing_events[0]
        click.echo(f"FAILED: event {event_id} of message {message_id} is missing from the log", err=True)
    for finding in findings:
        click.echo(f"FAILED: chain {finding.chain} does not match the checkpoint: {finding.problem}", err=True)
    for difference in replayed.differences:
        if difference.table == "files":
            click.echo(f"FAILED: a file does not match the log: {difference.problem}", err=True)
        else:
            click.echo(f"FAILED: table {difference.table} does not match the log: {difference.problem}", err=True)
    if bad is not None or report.missing_events or findings or not replayed.ok:
        sys.exit(1)
    click.echo(
        f"OK: {len(report.chains)} chain(s), {report.events} event(s) verified"
        + (f", {report.redacted} with an erased body (redacted)" if report.redacted else "")
        + (f"; they match {len(checkpoints)} checkpoint(s)" if checkpoints else "")
        + f"; the tables match the log ({replayed.conversations} conversation(s) replayed"
        + (f", {replayed.bodies_skipped} erased body(ies) not compared" if replayed.bodies_skipped else "")
        + (f", {replayed.files_read} stored file(s) hashed" if replayed.files_read else "")
        + ")"
    )


def _read_checkpoints(path: Path) -> list[Any]:
    from chat.archive.checkpoints import MAX_LINE_CHARS, CheckpointError, read_checkpoints

    def lines(source: Any) -> Any:
        while line := source.readline(MAX_LINE_CHARS + 1):
            yield line

    try:
        with path.open(encoding="utf-8", errors="strict") as source:
            found = list(read_checkpoints(lines(source), str(path)))
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: {exc.strerror or exc}") from None
    if not found:
        raise CheckpointError(f"{path}: holds no checkpoint")
    return found


@audit.command("checkpoint")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write it to this file (replaced atomically) instead of standard output. "
    "Keep it away from the server: the database's attacker must not be able to rewrite it.",
)
@data_dir_option
def audit_checkpoint(out: Path | None, data_dir: Path | None) -> None:
    """Print (or write) a checkpoint: every chain's head (seq, event id, hash), as one line of JSON.

    `chat audit verify --checkpoint FILE` later proves that no chain was cut short or rewritten
    below it. The server can write them itself (CHAT_CHECKPOINT_INTERVAL_S, CHAT_CHECKPOINT_SINK).
    """
    from chat.archive.checkpoint_sinks import write_atomically
    from chat.archive.checkpoints import Checkpoint, build_checkpoint, dumps

    settings = load_settings(data_dir=data_dir)

    async def work(db: Database) -> Checkpoint:
        async with db.read(threaded=True) as session:
            return await build_checkpoint(session)

    try:
        checkpoint = run_with_db(settings, work)
    except ChatError as exc:
        raise click.ClickException(exc.message) from exc
    if out is None:
        click.echo(dumps(checkpoint))
        return
    try:
        write_atomically(out, dumps(checkpoint) + "\n")
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"checkpoint of {len(checkpoint.chains)} chain(s) written to {out}", err=True)


@main.command("mail-ingest")
@click.option("--sender", default=None, help="The envelope sender (Postfix: ${sender}) [default: the From header].")
@click.option(
    "--recipient",
    "recipients",
    multiple=True,
    help="An envelope recipient (Postfix: ${recipient}); repeatable [default: the To and Cc headers].",
)
@data_dir_option
def mail_ingest(sender: str | None, recipients: tuple[str, ...], data_dir: Path | None) -> None:
    """Deliver one mail read on standard input (for a Postfix pipe; see docs/email.md).

    Exit 0: delivered, or dropped as automatic mail (a bounce, an auto-reply, a loop); 67
    (EX_NOUSER): an unknown, forged or stale address, or a sender who may not post there; 65
    (EX_DATAERR): a malformed or too large mail; 75 (EX_TEMPFAIL): rate limited or the database
    unreachable, try again later. The reason goes to standard error.
    """
    from chat.mail.ingest import ingest

    settings = load_settings(data_dir=data_dir)
    raw = sys.stdin.buffer.read(settings.mail_max_bytes + 1)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    code, reason = asyncio.run(ingest(settings, raw, sender, list(recipients)))
    if reason:
        click.echo(reason, err=True)
    sys.exit(code)


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


@main.group()
def retention() -> None:
    """Retention of message bodies (the server also purges by itself, every hour)."""


@retention.command("purge")
@data_dir_option
def retention_purge(data_dir: Path | None) -> None:
    """Erase the bodies of expired messages now (for cron users; the server runs the same purge hourly).

    A message expires when it is older than its conversation's retention in days, or the workspace's
    when the conversation has none (0: kept forever). A legal hold on the conversation or on the
    message's author keeps it. Text, revisions and the events' bodies are erased; ids, authors,
    times and reactions stay, and `chat audit verify` still passes.
    """
    from chat.channels.retention import PurgeReport, purge_expired, utc_now

    settings = load_settings(data_dir=data_dir)

    async def work(db: Database) -> PurgeReport:
        return await purge_expired(db, settings, now=utc_now())

    report = run_with_db(settings, work)
    for purged in report.conversations:
        click.echo(
            f"conversation {purged.conversation}: {purged.count} message(s) older than "
            f"{purged.cutoff.isoformat(timespec='seconds')} ({purged.days} days) erased"
        )
    click.echo(f"OK: {report.count} message(s) erased in {len(report.conversations)} conversation(s)")
