"""Deployment configuration: one frozen dataclass, built once at start and passed in.

Sources, later wins: defaults, a TOML file (``ivr.toml`` or ``$IVR_CONFIG``), ``IVR_*`` env vars.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping


class ConfigError(ValueError):
    """A configuration value is missing or malformed."""


def node_slug(name: str) -> str:
    """A node name as Asterisk's ``systemname`` and a settings key can carry it."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name.strip())[:63] or "node"


@dataclass(frozen=True, slots=True)
class Config:
    db_url: str = "sqlite+aiosqlite:///var/ivr.db"
    timezone: str = "Asia/Shanghai"
    # aiohttp REST API and web UI
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    api_token: str = ""
    # FastAGI server (Asterisk connects to it)
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    # the controller answers a route request within this many seconds, else the dialplan uses
    # the AstDB mirror (the dialplan's own absolute timeout is a little longer)
    route_answer_timeout: float = 0.8
    # AMI (Asterisk listens on loopback; credentials generated per deployment)
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "ivr"
    ami_secret: str = ""
    ami_backoff_initial: float = 0.2
    ami_backoff_max: float = 10.0
    # Where Asterisk runs: host path of its root ("/" for a system asterisk, else the chroot) and
    # the instance folder as Asterisk sees it (inside that root).
    asterisk_root: str = "/"
    asterisk_instance: str = "/var/lib/ivr-asterisk"
    # SIP and RTP as Asterisk binds them
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    media_address: str = "127.0.0.1"
    rtp_start: int = 10000
    rtp_end: int = 10999
    # carrier trunk: citizens come in from carrier_match (address or subnet); officials' mobiles
    # and callbacks go out to carrier_host:carrier_port
    carrier_match: str = "127.0.0.2"
    carrier_host: str = "127.0.0.2"
    carrier_port: int = 5060
    default_language: str = "zh"
    default_pool: str = "main"
    # this controller's Asterisk node (several controllers may share one PostgreSQL database):
    # keys its CEL journal offset and tags its call records; default the host name
    # how often (seconds) the controller polls the change feed (changes made through others)
    feed_interval: float = 1.0
    node_name: str = field(default_factory=lambda: node_slug(socket.gethostname()))
    extra: Mapping[str, Any] = field(default_factory=dict)

    def host_path(self, inside: str) -> Path:
        """A path that Asterisk sees (inside its root) as the host sees it."""
        return Path(self.asterisk_root) / inside.lstrip("/")

    @property
    def asterisk_etc(self) -> Path:
        """Asterisk's configuration folder (host path): where the controller renders to."""
        return self.host_path(f"{self.asterisk_instance}/etc")

    @property
    def cel_journal(self) -> Path:
        """Asterisk's durable CEL journal (JSON lines), replayed after an outage."""
        return self.host_path(f"{self.asterisk_instance}/log/cel-custom/ivr-cel.json")

    @property
    def voicemail_dir_inside(self) -> str:
        return f"{self.asterisk_instance}/spool/ivr-voicemail"

    @property
    def prompts_dir_inside(self) -> str:
        return f"{self.asterisk_instance}/sounds/ivr"

    @property
    def voicemail_dir(self) -> Path:
        return self.host_path(self.voicemail_dir_inside)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None,
             env: Mapping[str, str] | None = None) -> "Config":
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        path = path or env.get("IVR_CONFIG")
        if path is None and Path("ivr.toml").exists():
            path = "ivr.toml"
        if path is not None:
            try:
                values.update(tomllib.loads(Path(path).read_text(encoding="utf-8")))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read config {path}: {exc}") from exc
        for f in fields(cls):
            key = f"IVR_{f.name.upper()}"
            if key in env:
                values[f.name] = env[key]
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "Config":
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in values.items():
            f = known.get(key)
            if f is None or key == "extra":
                extra[key] = value
                continue
            default = f.default
            try:
                if isinstance(default, bool):
                    value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
                elif isinstance(default, int):
                    value = int(value)
                elif isinstance(default, float):
                    value = float(value)
                else:
                    value = str(value)
                if key == "node_name":  # empty (IVR_NODE_NAME=""): the host name
                    value = node_slug(value or socket.gethostname())
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"config {key}: {value!r} is not a valid {type(default).__name__}") from exc
            kwargs[key] = value
        return cls(**kwargs, extra=extra)

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)

    def to_toml(self) -> str:
        lines = []
        for f in fields(self):
            if f.name == "extra":
                continue
            v = getattr(self, f.name)
            if isinstance(v, str):
                lines.append(f'{f.name} = "{v}"')
            elif isinstance(v, bool):
                lines.append(f"{f.name} = {'true' if v else 'false'}")
            else:
                lines.append(f"{f.name} = {v}")
        return "\n".join(lines) + "\n"
