"""JSON REST API under ``/api/v1`` (documented in ivr/web/openapi.py).

Auth: ``Authorization: Bearer <config.http.api_token>`` on everything except the OpenAPI document;
with no token configured the API refuses every request. Errors are
``{"error_id", "message", "details"}`` with the error class's HTTP status.
The app must hold DB_SESSIONMAKER and CONFIG; ON_CHANGE (the mirror hook) is optional.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr.db.models import AuditEntry, Call, Official, Operator, Pool
from ivr.db.settings import current_timezone
from ivr.directory import services as directory
from ivr.core.constants import PUBLIC, SYSTEM
from ivr.core.errors import InvalidInput, MalformedJson
from ivr.directory.importer import import_text
from ivr.core.numbers import NumberError, dial_forms
from ivr.routing import services as routing
from ivr.http import identity_of
from ivr.web.compat import add_rules
from ivr.web.keys import CONFIG, DB_SESSIONMAKER, ON_CHANGE, ON_DIRECTORY_CHANGE, OnChangeHook
from ivr.web.openapi import PREFIX

__all__ = ["setup_api", "official_json", "call_json", "audit_json", "pool_json", "operator_json"]

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- serialisation -------------------------------------------------------------------------

def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite returns naive UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def _forms(number: str) -> list[str]:
    try:
        return dial_forms(number)
    except NumberError:
        return []


def official_json(o: Official) -> dict[str, Any]:
    p = o.policy
    return {
        "id": o.id, "slug": o.slug, "name": o.name, "title": o.title, "department": o.department,
        "display_name": o.display_name, "language": o.language, "availability": o.availability,
        "availability_note": o.availability_note, "deputy": o.deputy.slug if o.deputy else None,
        "numbers": [{"number": n.number, "dial_forms": _forms(n.number)}
                    for n in sorted(o.numbers, key=lambda n: n.number)],
        "devices": [{"kind": d.kind, "endpoint": d.endpoint, "number": d.number,
                     "static_contact": d.static_contact, "priority": d.priority} for d in o.devices],
        "policy": {"mode": p.mode if p else "direct", "chain": p.chain if p else None,
                   "ring_timeout": p.ring_timeout if p else 20,
                   "pool": p.pool.name if p and p.pool else None, "version": p.version if p else 0,
                   "updated_at": _time(p.updated_at) if p else None},
        "schedule": routing.windows_of(o),
    }


def call_json(c: Call) -> dict[str, Any]:
    return {
        "id": c.id, "linkedid": c.linkedid, "number_dialed": c.number_dialed, "caller": c.caller,
        "official_id": c.official_id, "route_source": c.route_source, "mode": c.mode,
        "outcome": c.outcome, "answered_by": c.answered_by, "answered_kind": c.answered_kind,
        "started_at": _time(c.started_at), "answered_at": _time(c.answered_at),
        "ended_at": _time(c.ended_at), "voicemail_file": c.voicemail_file,
        "voicemail_secs": c.voicemail_secs, "node": c.node,
        "steps": [{"seq": s.seq, "kind": s.kind, "target": s.target, "result": s.result,
                   "answered_by": s.answered_by, "started_at": _time(s.started_at),
                   "ended_at": _time(s.ended_at)} for s in c.steps],
    }


def audit_json(a: AuditEntry) -> dict[str, Any]:
    return {"id": a.id, "at": _time(a.at), "actor": a.actor, "official_id": a.official_id,
            "field": a.field, "old_value": a.old_value, "new_value": a.new_value, "reason": a.reason}


def pool_json(p: Pool) -> dict[str, Any]:
    return {"name": p.name, "queue": p.queue, "strategy": p.strategy, "max_wait": p.max_wait,
            "operators": sorted(o.endpoint for o in p.operators)}


def operator_json(o: Operator, *, secret: bool = False) -> dict[str, Any]:
    out = {"name": o.name, "endpoint": o.endpoint, "pool": o.pool.name if o.pool else None,
           "static_contact": o.static_contact, "state": o.state, "paused_reason": o.paused_reason}
    if secret:
        out["secret"] = o.secret
    return out


# --- request helpers -----------------------------------------------------------------------

async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedJson(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedJson("request body must be a JSON object")
    return data


def _actor(request: web.Request, body: dict[str, Any] | None = None) -> str:
    """Who makes the change, for the audit log. A signed-in account or an issued token is that
    account, whatever the request claims; only the deployment token (the CLI, automation) may
    name the actor."""
    who = identity_of(request)
    if who is not None and who.role != SYSTEM:
        return who.actor
    actor = (body or {}).get("actor") or request.query.get("actor") or request.headers.get("X-IVR-Actor")
    if actor is not None and not isinstance(actor, str):
        raise InvalidInput("actor must be text")
    return actor or "api"


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"query parameter {name} must be a whole number", {name: raw}) from None


async def _time_param(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"query parameter {name} must be an ISO 8601 time", {name: raw}) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(await current_timezone(request.config_dict[DB_SESSIONMAKER])))
    return value


def _on_change(request: web.Request) -> OnChangeHook | None:
    return request.config_dict.get(ON_CHANGE)


async def _directory_changed(request: web.Request) -> None:
    hook = request.config_dict.get(ON_DIRECTORY_CHANGE)
    if hook is not None:
        await hook()


def _field(body: dict[str, Any], name: str) -> Any:
    if name not in body:
        raise InvalidInput(f"missing field {name!r}", {"field": name})
    return body[name]


# --- handlers ------------------------------------------------------------------------------

async def list_officials(request: web.Request) -> web.Response:
    officials = await directory.list_officials(request.config_dict[DB_SESSIONMAKER])
    return web.json_response({"items": [official_json(o) for o in officials]})


async def get_official(request: web.Request) -> web.Response:
    o = await directory.get_official(request.config_dict[DB_SESSIONMAKER], request.match_info["slug"])
    return web.json_response(official_json(o))


def _change_handler(field: str, call: Callable[..., Awaitable[Official]],
                    extra: tuple[str, ...] = ()) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        body = await _body(request)
        value = _field(body, field)
        kwargs = {k: body[k] for k in extra if k in body}
        o = await call(request.config_dict[DB_SESSIONMAKER], request.match_info["slug"], value,
                       _actor(request, body), body.get("reason", ""), on_change=_on_change(request),
                       **kwargs)
        return web.json_response(official_json(o))
    handler.__name__ = f"put_{field}"
    return handler


async def list_calls(request: web.Request) -> web.Response:
    calls = await routing.list_calls(
        request.config_dict[DB_SESSIONMAKER], official=request.query.get("official") or None,
        since=await _time_param(request, "since"), until=await _time_param(request, "until"),
        outcome=request.query.get("outcome") or None, limit=_int_param(request, "limit", 100),
        offset=_int_param(request, "offset", 0))
    return web.json_response({"items": [call_json(c) for c in calls]})


async def get_call(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise InvalidInput("call id must be a number", {"id": raw})
    return web.json_response(call_json(await routing.get_call(request.config_dict[DB_SESSIONMAKER],
                                                              int(raw))))


async def get_audit(request: web.Request) -> web.Response:
    entries = await routing.audit_log(
        request.config_dict[DB_SESSIONMAKER], official=request.query.get("official") or None,
        field=request.query.get("field") or None, since=await _time_param(request, "since"),
        until=await _time_param(request, "until"), limit=_int_param(request, "limit", 100),
        offset=_int_param(request, "offset", 0))
    return web.json_response({"items": [audit_json(a) for a in entries]})


async def list_pools(request: web.Request) -> web.Response:
    pools = await directory.list_pools(request.config_dict[DB_SESSIONMAKER])
    return web.json_response({"items": [pool_json(p) for p in pools]})


async def get_pool(request: web.Request) -> web.Response:
    pool = await directory.get_pool(request.config_dict[DB_SESSIONMAKER], request.match_info["name"])
    return web.json_response(pool_json(pool))


async def post_pool(request: web.Request) -> web.Response:
    body = await _body(request)
    db = request.config_dict[DB_SESSIONMAKER]
    pool = await directory.create_pool(db, _field(body, "name"), _actor(request, body),
                                       strategy=body.get("strategy", "leastrecent"),
                                       max_wait=body.get("max_wait", 60))
    await _directory_changed(request)
    return web.json_response(pool_json(pool), status=201)


async def put_pool(request: web.Request) -> web.Response:
    body = await _body(request)
    pool = await directory.update_pool(request.config_dict[DB_SESSIONMAKER], request.match_info["name"],
                                       _actor(request, body), strategy=body.get("strategy"),
                                       max_wait=body.get("max_wait"))
    await _directory_changed(request)
    return web.json_response(pool_json(pool))


async def delete_pool(request: web.Request) -> web.Response:
    await directory.delete_pool(request.config_dict[DB_SESSIONMAKER], request.match_info["name"],
                                _actor(request))
    await _directory_changed(request)
    return web.Response(status=204)


async def list_operators(request: web.Request) -> web.Response:
    operators = await directory.list_operators(request.config_dict[DB_SESSIONMAKER])
    return web.json_response({"items": [operator_json(o) for o in operators]})


async def get_operator(request: web.Request) -> web.Response:
    op = await directory.get_operator(request.config_dict[DB_SESSIONMAKER], request.match_info["endpoint"])
    return web.json_response(operator_json(op))


async def post_operator(request: web.Request) -> web.Response:
    body = await _body(request)
    op = await directory.create_operator(
        request.config_dict[DB_SESSIONMAKER], _field(body, "name"), _field(body, "endpoint"),
        _field(body, "pool"), _actor(request, body), static_contact=body.get("static_contact"))
    await _directory_changed(request)
    return web.json_response(operator_json(op, secret=True), status=201)


async def put_operator(request: web.Request) -> web.Response:
    body = await _body(request)
    op = await directory.update_operator(
        request.config_dict[DB_SESSIONMAKER], request.match_info["endpoint"], _actor(request, body),
        name=body.get("name"), pool=body.get("pool"), static_contact=body.get("static_contact"),
        clear_static_contact="static_contact" in body and body["static_contact"] is None)
    await _directory_changed(request)
    return web.json_response(operator_json(op))


async def delete_operator(request: web.Request) -> web.Response:
    await directory.delete_operator(request.config_dict[DB_SESSIONMAKER],
                                    request.match_info["endpoint"], _actor(request))
    await _directory_changed(request)
    return web.Response(status=204)


async def post_import(request: web.Request) -> web.Response:
    fmt = "csv" if request.content_type in ("text/csv", "application/csv") else "yaml"
    try:
        text = await request.text()
    except UnicodeDecodeError:
        raise InvalidInput("the directory must be UTF-8 text") from None
    dry_run = request.query.get("dry_run", "").lower() in ("1", "true", "yes")
    result = await import_text(request.config_dict[DB_SESSIONMAKER], text, fmt, _actor(request),
                               dry_run=dry_run, on_change=_on_change(request))
    if not dry_run:
        await _directory_changed(request)
    return web.json_response(result.as_dict(secrets=not dry_run))


def setup_api(app: web.Application) -> None:
    """Register the /api/v1 routes on ``app``."""
    r = app.router
    r.add_get(f"{PREFIX}/officials", list_officials)
    r.add_get(f"{PREFIX}/officials/{{slug}}", get_official)
    r.add_put(f"{PREFIX}/officials/{{slug}}/mode", _change_handler("mode", routing.set_mode))
    r.add_put(f"{PREFIX}/officials/{{slug}}/availability",
              _change_handler("availability", routing.set_availability, ("note",)))
    r.add_put(f"{PREFIX}/officials/{{slug}}/schedule", _change_handler("windows", routing.set_schedule))
    r.add_put(f"{PREFIX}/officials/{{slug}}/chain", _change_handler("chain", routing.set_chain))
    r.add_put(f"{PREFIX}/officials/{{slug}}/ring-timeout",
              _change_handler("ring_timeout", routing.set_ring_timeout))
    r.add_put(f"{PREFIX}/officials/{{slug}}/deputy", _change_handler("deputy", routing.set_deputy))
    r.add_put(f"{PREFIX}/officials/{{slug}}/pool", _change_handler("pool", routing.set_pool))
    r.add_get(f"{PREFIX}/calls", list_calls)
    r.add_get(f"{PREFIX}/calls/{{id}}", get_call)
    r.add_get(f"{PREFIX}/audit", get_audit)
    r.add_get(f"{PREFIX}/pools", list_pools)
    r.add_post(f"{PREFIX}/pools", post_pool)
    r.add_get(f"{PREFIX}/pools/{{name}}", get_pool)
    r.add_put(f"{PREFIX}/pools/{{name}}", put_pool)
    r.add_delete(f"{PREFIX}/pools/{{name}}", delete_pool)
    r.add_get(f"{PREFIX}/operators", list_operators)
    r.add_post(f"{PREFIX}/operators", post_operator)
    r.add_get(f"{PREFIX}/operators/{{endpoint}}", get_operator)
    r.add_put(f"{PREFIX}/operators/{{endpoint}}", put_operator)
    r.add_delete(f"{PREFIX}/operators/{{endpoint}}", delete_operator)
    r.add_post(f"{PREFIX}/directory/import", post_import)


_A, _O, _F, _S = "admin", "operator", "official", "supervisor"
_P = PREFIX
add_rules([
    ("GET", f"{_P}/officials", [_A, _S, _O], None),
    ("GET", f"{_P}/officials/{{slug}}", [_A, _S, _O, _F], "official_path"),
    *[("PUT", f"{_P}/officials/{{slug}}/{what}", [_A], None)
      for what in ("mode", "availability", "schedule", "chain", "ring-timeout", "deputy", "pool")],
    ("GET", f"{_P}/calls", [_A, _S, _O, _F], "official_query"),
    ("GET", f"{_P}/calls/{{id}}", [_A, _S, _O, _F], "official_call"),
    ("GET", f"{_P}/audit", [_A, _S], None),
    ("GET", f"{_P}/pools", [_A, _S, _O], None),
    ("POST", f"{_P}/pools", [_A], None),
    ("GET", f"{_P}/pools/{{name}}", [_A, _S, _O], None),
    ("PUT", f"{_P}/pools/{{name}}", [_A], None),
    ("DELETE", f"{_P}/pools/{{name}}", [_A], None),
    ("GET", f"{_P}/operators", [_A, _S, _O], None),
    ("POST", f"{_P}/operators", [_A], None),
    ("GET", f"{_P}/operators/{{endpoint}}", [_A, _S, _O], None),
    ("PUT", f"{_P}/operators/{{endpoint}}", [_A], None),
    ("DELETE", f"{_P}/operators/{{endpoint}}", [_A], None),
    ("POST", f"{_P}/directory/import", [_A], None),
])
