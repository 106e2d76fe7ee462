"""``ivr`` command line: database, directory import, officials, routing mode, calls, audit.

Global options: ``--config PATH`` (else ``ivr.toml`` / ``$IVR_CONFIG`` / ``IVR_*`` env, see
ivr/core/config.py) and ``--api URL`` (or ``$IVR_API_URL``).

Changes made while the controller runs must reach Asterisk, and only the controller talks to
Asterisk (AMI). So with ``--api URL`` the changing commands (``set-mode``, ``import``) go through
the controller's REST API (bearer token: ``api_token`` of the config, or ``$IVR_API_TOKEN``),
which updates the AstDB mirror at once. Without it they write the database directly: fine when
the controller is stopped (it resyncs the mirror at start), but a running controller only
notices at its next full resync. Read commands always read the database.

``ivr init`` writes a new deployment config (``ivr.toml`` or ``--out``) with secrets generated
for this deployment; it never overwrites a file unless ``--force``.

``ivr render`` and ``ivr serve`` are provided by ``ivr.asterisk.render`` and ``ivr.app``
(imported only when run); they receive the parsed arguments (``args.config``, ``args.out``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib
import ipaddress
import json
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ivr.calls.schemas import CallOut
from ivr.core.config import Config, ConfigError
from ivr.core.constants import MODES
from ivr.core.errors import IvrError
from ivr.core.texttable import table
from ivr.db.session import with_db as _with_db
from ivr.directory.schemas import OfficialOut
from ivr.routing.schemas import AuditOut
from ivr.speech.cli import add_arguments as add_model_arguments

__all__ = ["main", "build_parser"]

Out = Callable[[str], None]


def _clip(value: str | None, width: int = 60) -> str:
    return text if len(text := value or "") <= width else text[:width - 1] + "…"


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


# --- API client (--api) ------------------------------------------------------------------

async def _api_call(config: Config, base: str, method: str, path: str, *, data: bytes | None = None,
                    json_body: dict[str, Any] | None = None, content_type: str | None = None,
                    params: dict[str, str] | None = None) -> dict[str, Any]:
    import aiohttp

    token = os.environ.get("IVR_API_TOKEN") or config.http.api_token
    url = base.rstrip("/")
    if not url.endswith("/api/v1"):
        url += "/api/v1"
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        async with http.request(method, url + path, data=data, json=json_body, headers=headers,
                                params=params) as response:
            try:
                body = await response.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError):
                body = {"error_id": "bad-response", "message": await response.text(), "details": {}}
            # 202 not-in-effect: saved, but this node's mirror does not hold it: say so
            if response.status >= 400 or (response.status == 202 and "error_id" in body):
                err = IvrError(str(body.get("message", response.reason)), body.get("details") or {})
                err.status, err.error_id = response.status, str(body.get("error_id", "http-error"))
                raise err
            return body if isinstance(body, dict) else {"result": body}


# --- commands ------------------------------------------------------------------------------

def _check_init(args: argparse.Namespace) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    for name in ("sip_port", "ami_port", "agi_port", "http_port", "carrier_port"):
        if not 0 < getattr(args, name) < 65536:
            raise ConfigError(f"{name}: {getattr(args, name)} is not a port (1-65535)")
    if len({args.sip_port, args.ami_port, args.agi_port, args.http_port}) < 4:
        raise ConfigError("sip, ami, agi and http ports must differ")
    try:
        ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"timezone: unknown IANA zone {args.timezone!r}") from None
    try:
        backend = make_url(args.db_url).get_backend_name()
    except ArgumentError:
        raise ConfigError(f"db_url: cannot parse {args.db_url!r}") from None
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError("db_url: sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")
    try:
        for match in args.carrier_match.split(","):
            ipaddress.ip_network(match.strip(), strict=False)
    except ValueError:
        raise ConfigError(f"carrier_match: {args.carrier_match!r} is not a list of addresses or "
                          "subnets; the carrier is identified by its address") from None
    if not args.carrier_host or any(c.isspace() or c in "\"'" for c in args.carrier_host):
        raise ConfigError(f"carrier_host: {args.carrier_host!r} is not a host name or address")


def cmd_init(args: argparse.Namespace, config: Config, out: Out) -> int:
    """Write a new deployment config with generated secrets (never a default)."""
    _check_init(args)
    path = Path(args.out)
    new = Config.build(
        database={"url": args.db_url, "timezone": args.timezone},
        http={"host": args.http_host, "port": args.http_port, "api_token": secrets.token_urlsafe(32)},
        agi={"port": args.agi_port},
        ami={"host": "127.0.0.1", "port": args.ami_port, "user": "ivr",
             "secret": secrets.token_urlsafe(32)},
        sip={"host": args.sip_host, "port": args.sip_port, "media_address": args.media_address},
        carrier={"match": args.carrier_match, "host": args.carrier_host, "port": args.carrier_port})
    text = ("# ivr deployment config, written by `ivr init`. It holds this deployment's secrets\n"
            "# ([http] api_token, [ami] secret): keep it private (mode 0600). Every setting can be\n"
            "# overridden from the environment as IVR_<SECTION>__<KEY>; see docs/config.md.\n"
            "# [node] name is left out: each node defaults to its host name.\n\n"
            + new.to_toml(exclude={"node.name"}))
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if args.force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise FileExistsError(f"{path} exists; not overwritten (--force replaces it, with new "
                              "secrets)") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)
    out(f"wrote {path} (new api_token and ami_secret). Next: ivr --config {path} db upgrade; "
        f"ivr --config {path} render --out DIR; ivr --config {path} serve")
    return 0


def cmd_db(args: argparse.Namespace, config: Config, out: Out) -> int:
    from ivr.db.session import upgrade

    upgrade(config.database.url)
    out(f"database at head: {config.database.url}")

    async def seed(db: Any) -> int:
        from ivr.db.settings import seed_settings

        if await seed_settings(db, config):
            out(f"city timezone set to {config.database.timezone} (change it in the directory's "
                "settings)")
        return 0
    return asyncio.run(_with_db(config, seed))
    return 0


def _print_import(result: dict[str, Any], out: Out, show_secrets: bool) -> None:
    created, updated = result["created"], result["updated"]
    prefix = "dry run, nothing changed: " if result.get("dry_run") else ""
    out(prefix + "created " + ", ".join(f"{v} {k}" for k, v in created.items())
        + "; updated " + ", ".join(f"{v} {k}" for k, v in updated.items()))
    creds = result.get("new_credentials") or {}
    for endpoint in result.get("new_endpoints", []):
        secret = creds.get(endpoint) if show_secrets else None
        out(f"new endpoint {endpoint}" + (f"  secret {secret}" if secret else ""))


def cmd_import(args: argparse.Namespace, config: Config, out: Out) -> int:
    path = Path(args.file)
    if args.api:
        from ivr.directory.spec import format_of

        content_type = "text/csv" if format_of(path) == "csv" else "application/yaml"
        params = {"actor": args.actor, **({"dry_run": "true"} if args.dry_run else {})}
        result = asyncio.run(_api_call(config, args.api, "POST", "/directory/import",
                                       data=path.read_bytes(), content_type=content_type,
                                       params=params))
        _print_import(result, out, args.show_secrets)
        return 0

    async def work(db: Any) -> int:
        from ivr.directory.importer import import_file

        result = await import_file(db, path, args.actor, dry_run=args.dry_run)
        if not args.dry_run:  # running controllers follow (ivr/db/feed.py)
            from ivr.db.feed import bump

            await bump(db, "directory")
        _print_import(result.as_dict(secrets=True), out, args.show_secrets)
        return 0
    return asyncio.run(_with_db(config, work))


def cmd_officials(args: argparse.Namespace, config: Config, out: Out) -> int:
    async def work(db: Any) -> int:
        from ivr.directory.services import list_officials

        rows = []
        for o in await list_officials(db):
            p = o.policy
            rows.append([o.slug, o.display_name, p.mode if p else "-", o.availability,
                         " ".join(n.number for n in o.numbers), len(o.devices),
                         o.deputy.slug if o.deputy else ""])
        out(table(["slug", "name", "mode", "availability", "numbers", "devices", "deputy"], rows))
        return 0
    return asyncio.run(_with_db(config, work))


def cmd_show(args: argparse.Namespace, config: Config, out: Out) -> int:
    async def work(db: Any) -> int:
        from ivr.directory.services import get_official

        o = OfficialOut.of(await get_official(db, args.slug)).model_dump(mode="json")
        if args.json:
            out(json.dumps(o, ensure_ascii=False, indent=2))
            return 0
        p = o["policy"]
        out(f"{o['display_name']}  ({o['slug']}, id {o['id']})  {o['department']}")
        out(f"mode {p['mode']}  chain {' > '.join(p['chain']) if p['chain'] is not None else '(city default)'}"
            f"  ring {p['ring_timeout']}s  pool {p['pool'] or '(default)'}  version {p['version']}")
        back = f"  until {o['availability_until']}" if o["availability_until"] else ""
        out(f"availability {o['availability']}{back} {o['availability_note']}".rstrip())
        out(f"deputy {o['deputy'] or '-'}")
        for n in o["numbers"]:
            out(f"number {n['number']}  dialled as {', '.join(n['dial_forms'])}")
        for d in o["devices"]:
            out(f"device {d['kind']} {d['endpoint'] or d['number']}")
        for w in o["schedule"]:
            out(f"window {w['days']} {w['start']}-{w['end']} {w['mode']}")
        return 0
    return asyncio.run(_with_db(config, work))


def cmd_set_mode(args: argparse.Namespace, config: Config, out: Out) -> int:
    if args.api:
        o = asyncio.run(_api_call(config, args.api, "PUT", f"/officials/{args.slug}/mode",
                                  json_body={"mode": args.mode, "reason": args.reason,
                                             "actor": args.actor}))
        out(f"{o['slug']}: mode {o['policy']['mode']} (version {o['policy']['version']}, via API)")
        return 0

    async def work(db: Any) -> int:
        from ivr.db.feed import bump
        from ivr.routing.services import set_mode

        o = await set_mode(db, args.slug, args.mode, args.actor, args.reason)
        await bump(db, "routing")  # running controllers follow within feed_interval
        version = o.policy.version if o.policy else 0
        out(f"{o.slug}: mode {args.mode} (version {version}; running controllers follow within "
            "about a second)")
        return 0
    return asyncio.run(_with_db(config, work))


def cmd_calls(args: argparse.Namespace, config: Config, out: Out) -> int:
    async def work(db: Any) -> int:
        from ivr.routing.services import list_calls

        rows = []
        calls = await list_calls(db, official=args.official, limit=args.limit)
        for c in (CallOut.of(c).model_dump(mode="json") for c in calls):
            steps = " > ".join(f"{s['kind']}:{s['result'] or '…'}" for s in c["steps"])
            rows.append([c["id"], (c["started_at"] or "")[:19], c["caller"], c["number_dialed"],
                         c["official_id"] or "", c["mode"], c["outcome"] or "in progress",
                         c["answered_by"] or "", steps])
        out(table(["id", "started (UTC)", "caller", "dialled", "official", "mode", "outcome",
                   "answered by", "steps"], rows))
        return 0
    return asyncio.run(_with_db(config, work))


def cmd_audit(args: argparse.Namespace, config: Config, out: Out) -> int:
    async def work(db: Any) -> int:
        from ivr.routing.services import audit_log

        entries = await audit_log(db, official=args.official, limit=args.limit)
        rows = [[a["at"][:19] if a["at"] else "", a["actor"], a["official_id"] or "", a["field"],
                 _clip(a["old_value"]), _clip(a["new_value"]), a["reason"]]
                for a in (AuditOut.of(e).model_dump(mode="json") for e in entries)]
        out(table(["at (UTC)", "actor", "official", "field", "old", "new", "reason"], rows))
        return 0
    return asyncio.run(_with_db(config, work))


def _lazy(module: str, function: str) -> Callable[[argparse.Namespace, Config, Out], int]:
    def run(args: argparse.Namespace, config: Config, out: Out) -> int:
        fn = getattr(importlib.import_module(module), function)
        return int(fn(args) or 0)
    return run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ivr", description="Published-number routing server for Asterisk.")
    p.add_argument("--config", metavar="PATH", help="TOML config file (default ivr.toml or $IVR_CONFIG)")
    p.add_argument("--api", metavar="URL", default=os.environ.get("IVR_API_URL"),
                   help="controller REST API (e.g. http://127.0.0.1:8080): set-mode and import go "
                        "through it so that Asterisk is updated at once (default $IVR_API_URL)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    init = sub.add_parser("init", help="write a new deployment config with generated secrets")
    init.add_argument("--out", metavar="PATH", default="ivr.toml", help="default ivr.toml")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    d = Config()
    for flag, kind, default, text in (
            ("--db-url", str, d.database.url, "SQLite path or postgresql+asyncpg://USER:PASS@HOST/DB"),
            ("--timezone", str, d.database.timezone, "IANA zone of the schedule windows"),
            ("--http-host", str, d.http.host, "REST API bind address"),
            ("--http-port", int, d.http.port, "REST API port"),
            ("--agi-port", int, d.agi.port, "FastAGI port (loopback)"),
            ("--ami-port", int, d.ami.port, "AMI port (Asterisk binds it on loopback only)"),
            ("--sip-host", str, d.sip.host, "SIP bind address"),
            ("--sip-port", int, d.sip.port, "SIP port"),
            ("--media-address", str, d.sip.media_address, "RTP address announced in SDP"),
            ("--carrier-host", str, d.carrier.host, "carrier SIP host (outgoing calls)"),
            ("--carrier-port", int, d.carrier.port, "carrier SIP port"),
            ("--carrier-match", str, ",".join(d.carrier.match),
             "carrier source addresses or subnets, comma-separated: calls from them land in "
             "ivr-citizens")):
        init.add_argument(flag, type=kind, default=default, help=f"{text} (default {default})")
    init.set_defaults(run=cmd_init, needs_config=False)

    from ivr.accounts.cli import add_commands as add_user_commands
    from ivr.evidence.cli import add_commands as add_evidence_commands
    from ivr.ops.cli import add_commands as add_ops_commands
    add_user_commands(sub)  # ivr user …, ivr token … (web accounts and API tokens)
    add_ops_commands(sub)  # ivr backup, ivr restore
    add_evidence_commands(sub, _lazy)  # ivr verify, ivr evidence, ivr retention

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("upgrade", help="run migrations to the latest schema").set_defaults(run=cmd_db)

    imp = sub.add_parser("import", help="import a directory file (.yaml/.yml or .csv)")
    imp.add_argument("file")
    imp.add_argument("--actor", default=_default_actor(), help="who, for the audit log")
    imp.add_argument("--dry-run", action="store_true", help="validate only, change nothing")
    imp.add_argument("--show-secrets", action="store_true",
                     help="print the generated SIP secrets of new endpoints")
    imp.set_defaults(run=cmd_import)

    calendar = sub.add_parser("calendar", help="working calendar: import a year (.yaml/.csv), show")
    calendar.add_argument("action", choices=("import", "show"))
    calendar.add_argument("file", nargs="?", help="the year's holidays and make-up days")
    calendar.add_argument("--year", type=int, help="show: only this year")
    calendar.add_argument("--allow-example", action="store_true",
                          help="import a file marked status: example (dates checked)")
    calendar.add_argument("--actor", default=_default_actor())
    calendar.set_defaults(run=_lazy("ivr.followup.calendar_cli", "cli_calendar"), needs_config=False)

    sub.add_parser("officials", help="list officials").set_defaults(run=cmd_officials)

    show = sub.add_parser("show", help="show one official")
    show.add_argument("slug")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=cmd_show)

    sm = sub.add_parser("set-mode", help="switch an official's routing mode (audited)")
    sm.add_argument("slug")
    sm.add_argument("mode", choices=MODES)
    sm.add_argument("--reason", required=True)
    sm.add_argument("--actor", default=_default_actor())
    sm.set_defaults(run=cmd_set_mode)

    calls = sub.add_parser("calls", help="recent calls")
    calls.add_argument("--official", help="slug or id")
    calls.add_argument("--limit", type=int, default=20)
    calls.set_defaults(run=cmd_calls)

    audit = sub.add_parser("audit", help="audit log")
    audit.add_argument("--official", help="slug or id")
    audit.add_argument("--limit", type=int, default=50)
    audit.set_defaults(run=cmd_audit)

    render = sub.add_parser("render", help="render the Asterisk configuration")
    render.add_argument("--out", metavar="DIR", required=True)
    render.set_defaults(run=_lazy("ivr.directory.asterisk_input", "cli_render"))

    sub.add_parser("serve", help="run the controller").set_defaults(run=_lazy("ivr.app", "cli_serve"))

    models = sub.add_parser("models", help="speech models: list [--verify], download NAME, "
                                            "install FILE.zip (offline), evaluate DIR")
    add_model_arguments(models)
    models.set_defaults(run=_lazy("ivr.speech.cli", "cli_models"), needs_config=False)
    return p


def main(argv: Sequence[str] | None = None, out: Out | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = out or print
    try:
        config = Config.load(args.config) if getattr(args, "needs_config", True) else Config()
        return int(args.run(args, config, out))
    except ConfigError as exc:
        print(f"ivr: config error: {exc}", file=sys.stderr)
        return 2
    except IvrError as exc:
        print(f"ivr: error [{exc.error_id}]: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
