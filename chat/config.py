"""Settings, read once from the environment and CLI flags, validated, frozen.

Every setting has an environment variable ``CHAT_<NAME>`` (upper case); the
CLI flags of ``chat serve`` override the environment. ``docs/operations.md``
lists them all (a test keeps that list complete).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

RegistrationMode = Literal["open", "invite", "domains", "closed"]
InvitePolicy = Literal["members", "admins"]
ChannelCreation = Literal["members", "admins"]


class SettingsError(ValueError):
    """A setting has a value the server cannot run with."""


@dataclass(frozen=True)
class Settings:
    # where data lives
    data_dir: Path = Path("./salon-data")
    database_url: str = ""  # empty: SQLite file salon.db inside data_dir
    broker_url: str = "memory://"  # or redis://host:port/db for several server processes
    # listening
    host: str = "127.0.0.1"
    port: int = 8000
    public_origin: str = ""  # e.g. https://chat.example.com; empty: the request's own origin
    allowed_origins: tuple[str, ...] = ()  # extra origins allowed for browser websockets
    allowed_hosts: tuple[str, ...] = ()  # Host headers accepted besides loopback and public_origin's
    header_timeout_s: int = 10  # a client must send its request headers within this many seconds
    max_connections: int = 1000  # open HTTP + websocket connections per server process
    # accounts
    # "invite" (as Zulip and Mattermost ship): the first account registers without one, everyone
    # after needs an invitation; "domains" (addresses at allowed_domains, once proved) needs smtp_url
    registration_mode: RegistrationMode = "invite"
    invite_policy: InvitePolicy = "members"  # who may invite to private groups
    allowed_domains: tuple[str, ...] = ()  # registration_mode "domains": e-mail domains that may register
    channel_creation: ChannelCreation = "members"  # who may create channels and groups
    session_days: int = 30
    # rate limits (window in seconds, count per window); 0 disables a limit (load tests only)
    login_limit_per_account: int = 5
    login_limit_per_address: int = 30
    login_limit_window_s: int = 300
    login_limit_per_account_global: int = 100  # failed logins per account from all addresses together
    login_limit_global_window_s: int = 3600
    register_limit_per_address: int = 10
    register_limit_window_s: int = 3600
    post_limit_per_user: int = 20
    post_limit_window_s: int = 10
    ws_max_per_user: int = 20
    ws_max_per_address: int = 50
    # websocket
    ws_max_frame_bytes: int = 65536
    ws_queue_size: int = 256
    heartbeat_s: int = 25
    # messages
    max_message_chars: int = 10000
    edit_window_s: int = 0  # authors may edit their messages for this long; 0: no limit
    delete_window_s: int = 0  # authors may delete their messages for this long; 0: no limit
    meeting_base_url: str = "https://meet.jit.si"  # where /meet creates rooms
    # files (chat.files): uploads and the messages that carry them
    upload_max_bytes: int = 25 * 1024 * 1024  # largest upload; a bigger one is refused (413) before it is read
    upload_quota_bytes: int = 1024 * 1024 * 1024  # the sizes of one user's uploads together; 0: no quota
    upload_dir: str = ""  # where file contents are stored; empty: <data_dir>/uploads
    upload_scan_command: str = ""  # run with the file's path as last argument; a non-zero exit refuses it
    upload_scan_timeout_s: int = 60  # a scan that takes longer refuses the file
    # archive: messages older than this many days are purged (bodies erased); 0 keeps them forever
    retention_days: int = 0
    # audit checkpoints (chat.archive.checkpoint_sinks): 0 = off
    checkpoint_interval_s: int = 0
    checkpoint_sink: tuple[str, ...] = ()  # file paths outside data_dir and/or https:// URLs
    # mail (chat.mail): outbound through a relay, inbound through Salon's SMTP receiver
    smtp_url: str = ""  # smtp://user:pass@host:port, smtps://…, smtp+starttls://…; empty: Salon sends no mail
    mail_from: str = ""  # From: of Salon's mails; empty: salon@<mail_domain, or public_origin's host>
    mail_domain: str = ""  # domain of reply and channel addresses (its MX reaches the receiver); empty: none
    smtp_listen: str = ""  # host:port of the inbound SMTP receiver (`chat serve --smtp-port N`); empty: none
    mail_max_bytes: int = 10 * 1024 * 1024  # a bigger inbound mail is refused (552) before it is stored
    mail_limit_per_sender: int = 20  # inbound mails per sender address per window; 0 disables
    mail_limit_per_channel: int = 60  # inbound mails per conversation per window; 0 disables
    mail_limit_window_s: int = 3600
    # authserv-id of the MX's Authentication-Results (e.g. mx.example.com): its dmarc=pass for the From
    # domain attributes a mail to a channel address to that address's user; empty: nobody is attributed
    mail_trusted_authserv_id: str = ""
    # Web Push (chat.push): tests only, allow push endpoints on http:// and private or loopback addresses
    push_allow_insecure_endpoints: bool = False
    # development
    debug: bool = False

    def __post_init__(self) -> None:
        if self.registration_mode not in get_args(RegistrationMode):
            raise SettingsError(f"registration_mode must be one of {get_args(RegistrationMode)}")
        if self.registration_mode == "domains" and not self.smtp_url:
            raise SettingsError(
                "registration_mode 'domains' needs CHAT_SMTP_URL: an address at an allowed domain is verified "
                "by a confirmation link Salon mails; set a relay, or use 'invite', 'open' or 'closed'"
            )
        if self.invite_policy not in get_args(InvitePolicy):
            raise SettingsError(f"invite_policy must be one of {get_args(InvitePolicy)}")
        if self.channel_creation not in get_args(ChannelCreation):
            raise SettingsError(f"channel_creation must be one of {get_args(ChannelCreation)}")
        for name in ("edit_window_s", "delete_window_s", "retention_days"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be 0 (no limit) or positive")
        if not self.meeting_base_url.startswith("https://"):
            raise SettingsError("meeting_base_url must start with https://")
        if not (0 < self.port < 65536):
            raise SettingsError("port must be between 1 and 65535")
        for name in (
            "session_days",
            "header_timeout_s",
            "max_connections",
            "ws_max_frame_bytes",
            "ws_queue_size",
            "heartbeat_s",
            "max_message_chars",
            "upload_max_bytes",
            "upload_scan_timeout_s",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be positive")
        if not (
            self.database_url == "" or self.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://"))
        ):
            raise SettingsError("database_url must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        if not self.broker_url.startswith(("memory://", "redis://", "rediss://")):
            raise SettingsError("broker_url must start with memory:// or redis://")
        if self.upload_quota_bytes < 0:
            raise SettingsError("upload_quota_bytes must be 0 (no quota) or positive")
        if self.upload_scan_command:
            try:
                shlex.split(self.upload_scan_command)
            except ValueError as exc:
                raise SettingsError(f"upload_scan_command: {exc}") from None
        self._check_checkpoints()
        self._check_mail()

    def _check_mail(self) -> None:
        if self.smtp_url and not self.smtp_url.startswith(("smtp://", "smtps://", "smtp+starttls://")):
            raise SettingsError("smtp_url must start with smtp://, smtps:// or smtp+starttls://")
        if self.smtp_listen:
            host, _, port = self.smtp_listen.rpartition(":")
            if not host or not port.isdigit() or not (0 < int(port) < 65536):
                raise SettingsError("smtp_listen must be host:port (e.g. 0.0.0.0:2525)")
        if self.mail_domain and not re.fullmatch(r"(?=.{1,253}$)([a-z0-9-]{1,63}\.)*[a-z0-9-]{1,63}", self.mail_domain):
            raise SettingsError("mail_domain must be a lower-case domain name, e.g. chat.example.com")
        if self.mail_max_bytes <= 0 or self.mail_limit_window_s <= 0:
            raise SettingsError("mail_max_bytes and mail_limit_window_s must be positive")
        if self.mail_limit_per_sender < 0 or self.mail_limit_per_channel < 0:
            raise SettingsError("mail limits must be 0 (off) or positive")
        if self.mail_trusted_authserv_id and not re.fullmatch(r"[A-Za-z0-9._-]{1,253}", self.mail_trusted_authserv_id):
            raise SettingsError("mail_trusted_authserv_id must be the authserv-id of the MX, e.g. mx.example.com")

    def _check_checkpoints(self) -> None:
        if self.checkpoint_interval_s < 0:
            raise SettingsError("checkpoint_interval_s must be 0 (off) or a number of seconds")
        if self.checkpoint_interval_s and not self.checkpoint_sink:
            raise SettingsError("checkpoint_interval_s is set but checkpoint_sink is empty: where should they go?")
        if self.checkpoint_sink and not self.checkpoint_interval_s:
            raise SettingsError("checkpoint_sink is set but checkpoint_interval_s is 0: no checkpoint would be written")
        guarded = [Path(self.data_dir).resolve()]
        database_file = self.db_url.split(":///", 1)[-1].split("?", 1)[0] if self.is_sqlite else ""
        if database_file and database_file != ":memory:":
            guarded.append(Path(database_file).resolve().parent)
        for sink in self.checkpoint_sink:
            if "://" in sink:
                scheme, rest = sink.split("://", 1)
                host = rest.split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
                if not (scheme == "https" and host) and not (scheme == "http" and host == "127.0.0.1"):
                    raise SettingsError(
                        f"checkpoint_sink {sink!r}: a URL sink must be https:// (http:// only to 127.0.0.1)"
                    )
                continue
            path = Path(sink).expanduser().resolve()
            for directory in guarded:
                if path == directory or path.is_relative_to(directory):
                    raise SettingsError(
                        f"checkpoint_sink {sink!r} is inside {directory}, next to the data it vouches for: "
                        "whoever can cut the log could rewrite it too; keep checkpoints elsewhere"
                    )

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'salon.db'}"

    @property
    def upload_path(self) -> Path:
        """Where file contents are stored (``upload_dir``, or ``uploads`` in the data directory)."""
        return Path(self.upload_dir).expanduser() if self.upload_dir else Path(self.data_dir) / "uploads"

    @property
    def scan_argv(self) -> list[str]:
        """``upload_scan_command`` as an argument list (run without a shell); empty when none."""
        return shlex.split(self.upload_scan_command)

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``CHAT_*`` variables, then explicit overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"CHAT_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def setting_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Settings)]


def _coerce(name: str, annotation: Any, raw: str) -> Any:
    kind = str(annotation)
    try:
        if kind == "int":
            return int(raw)
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind == "Path":
            return Path(raw)
        if kind.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise SettingsError(f"CHAT_{name.upper()}: cannot read {raw!r} as {kind}") from exc
    return raw
