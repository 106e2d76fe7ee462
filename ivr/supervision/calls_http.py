"""The supervisors' calls page (``/supervision/calls``: filters, keyset pages, a call's detail),
its CSV (the whole filtered set) and ``GET /api/v1/supervision/calls``; the exceptions list
(``/supervision/exceptions``, its CSV, ``GET /api/v1/supervision/exceptions``). Supervisors and
admins see every call; an official their own (scopes OFFICIAL_QUERY, OFFICIAL_CALL)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from urllib.parse import urlencode

from aiohttp import web

from ivr.core.constants import API_PREFIX, CALL_KINDS
from ivr.core.errors import InvalidInput
from ivr.core.timeutil import utcnow
from ivr.db.settings import current_timezone
from ivr.followup import inbox_view
from ivr.http import DB, ROUTES, Routes
from ivr.http.pages import MESSAGES, NAV, error_text, render, t, when
from ivr.http.scopes import OFFICIAL_CALL, OFFICIAL_QUERY
from ivr.supervision import call_view
from ivr.supervision import calls_query as cq
from ivr.supervision import exceptions as ex
from ivr.supervision.calls_texts import TEXTS
from ivr.supervision.schemas import (
    CALL_COLUMNS,
    CallsPage,
    ExceptionsPage,
)

routes = Routes("supervision")
READERS = ("admin", "supervisor", "official")
EXCEPTION_COLUMNS = (*CALL_COLUMNS, "reason", "follow_up", "expected_party", "deadline")


async def _calls(request: web.Request, f: cq.CallFilter) -> tuple[str, CallsPage]:
    db = request.config_dict[DB]
    tz = await current_timezone(db)
    rows, nxt = await cq.page(db, await cq.filtered(db, f, tz), f.after, f.limit)
    return tz, CallsPage(items=[cq.item(r, tz) for r in rows], next=nxt)


@routes.get(f"{API_PREFIX}/supervision/calls", roles=READERS, scope=OFFICIAL_QUERY,
            query=cq.CallFilter, response=CallsPage,
            summary="Calls, newest first, filtered; keyset pages (officials: their own)")
async def api_calls(request: web.Request, query: cq.CallFilter) -> CallsPage:
    return (await _calls(request, query))[1]


@routes.get(f"{API_PREFIX}/supervision/exceptions", roles=READERS, scope=OFFICIAL_QUERY,
            query=cq.CallFilter, response=ExceptionsPage,
            summary="Calls not answered by the expected party and not followed up by the "
                    "contact deadline, oldest first")
async def api_exceptions(request: web.Request, query: cq.CallFilter) -> ExceptionsPage:
    db = request.config_dict[DB]
    tz = await current_timezone(db)
    q = await ex.query(db, query, tz, utcnow())
    rows, nxt = await cq.page(db, q, query.after, query.limit, ascending=True)
    return ExceptionsPage(items=await ex.items(db, rows, tz), next=nxt)


def _csv_response(request: web.Request, name: str) -> web.StreamResponse:
    return web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"'})


def _line(values: Iterable[object]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerow(["" if v is None else v for v in values])
    return buf.getvalue().encode()


async def _stream(request: web.Request, name: str, columns: tuple[str, ...],
                  items: AsyncIterator[dict[str, object]]) -> web.StreamResponse:
    response = _csv_response(request, name)
    await response.prepare(request)
    await response.write("\ufeff".encode() + _line(columns))
    async for item in items:
        await response.write(_line(item[c] for c in columns))
    await response.write_eof()
    return response


@routes.get("/supervision/calls.csv", roles=READERS, scope=OFFICIAL_QUERY, query=cq.CallFilter)
async def calls_csv(request: web.Request, query: cq.CallFilter) -> web.StreamResponse:
    """Every call of the filter (not one page) as CSV (UTF-8 with a BOM)."""
    db = request.config_dict[DB]
    tz = await current_timezone(db)
    q = await cq.filtered(db, query, tz)

    async def items() -> AsyncIterator[dict[str, object]]:
        async for r in cq.every(db, q):
            yield cq.item(r, tz).model_dump()
    return await _stream(request, "ivr-calls.csv", CALL_COLUMNS, items())


@routes.get("/supervision/exceptions.csv", roles=READERS, scope=OFFICIAL_QUERY,
            query=cq.CallFilter)
async def exceptions_csv(request: web.Request, query: cq.CallFilter) -> web.StreamResponse:
    """Every exception of the filter as CSV, oldest first."""
    db = request.config_dict[DB]
    tz = await current_timezone(db)

    async def items() -> AsyncIterator[dict[str, object]]:
        async for e in ex.all_items(db, query, tz, utcnow()):
            yield e.model_dump()
    return await _stream(request, "ivr-exceptions.csv", EXCEPTION_COLUMNS, items())


def _qs(query: cq.CallFilter, **override: str) -> str:
    q = {k: str(v) for k, v in query.model_dump().items()
         if v and k not in ("after", "limit") and v != cq.PAGE}
    q.update({k: v for k, v in override.items() if v})
    return urlencode(q)


def _form(query: cq.CallFilter) -> dict[str, object]:
    return {"query": query, "outcomes": cq.OUTCOME_FILTERS, "kinds": CALL_KINDS}


@routes.get("/supervision/calls", roles=READERS, scope=OFFICIAL_QUERY, query=cq.CallFilter)
async def calls_page(request: web.Request, query: cq.CallFilter) -> web.Response:
    """The calls page: filters, newest first, keyset pages, CSV of the whole filtered set."""
    context = _form(query)
    try:
        _, result = await _calls(request, query)
    except InvalidInput as exc:
        return render(request, "supervision/calls.html", {**context, "calls": None},
                      title="sv.calls.title", error=error_text(request, exc), status=exc.status)
    context.update(calls=result.items, filter_qs=_qs(query),
                   next_qs=_qs(query, after=result.next or "") if result.next else "")
    return render(request, "supervision/calls.html", context, title="sv.calls.title")


@routes.get("/supervision/exceptions", roles=READERS, scope=OFFICIAL_QUERY, query=cq.CallFilter)
async def exceptions_page(request: web.Request, query: cq.CallFilter) -> web.Response:
    """The exceptions: not answered by the expected party and not followed up in time."""
    context = _form(query)
    try:
        result = await api_exceptions(request, query)
    except InvalidInput as exc:
        return render(request, "supervision/exceptions.html", {**context, "calls": None},
                      title="sv.exceptions.title", error=error_text(request, exc),
                      status=exc.status)
    context.update(calls=result.items, filter_qs=_qs(query),
                   next_qs=_qs(query, after=result.next or "") if result.next else "")
    return render(request, "supervision/exceptions.html", context, title="sv.exceptions.title")


@routes.get("/supervision/calls/{id}", roles=READERS, scope=OFFICIAL_CALL, errors=[400, 404])
async def call_page(request: web.Request) -> web.Response:
    """One call: its steps (who rang, how long, result, confirmed), its case, its voicemail."""
    raw = request.match_info["id"]
    if not cq.is_id(raw):
        raise InvalidInput("call id must be a number", {"id": raw})
    db = request.config_dict[DB]
    tz = await current_timezone(db)
    d = await cq.detail(db, int(raw))
    now = datetime.now(UTC)

    def at(dt: datetime | None) -> str:
        return when(request, dt)

    def text(key: str) -> str:
        return t(request, key)
    steps = [{"seq": s.seq, "kind": s.kind, "target": call_view.target_parts(s.target, s.kind, text),
              "result": call_view.result_label(s.result or "", text), "raw_result": s.result or "",
              "answered_by": s.answered_by or "", "started": cq.local(s.started_at, tz),
              "secs": round((s.ended_at - s.started_at).total_seconds(), 1)
              if s.ended_at else None} for s in d.call.steps]
    slugs = {d.official.slug: d.official.display_name} if d.official else {}
    cases = [{"id": c.id, "kind": c.kind, "status": c.status,
              "deadline": cq.local(c.deadline, tz),
              "history": inbox_view.events(c, at, text, slugs,
                                           lambda dt: when(request, dt, zone=True)),
              "callbacks": [{"at": a.at, "number": cb.number, "state": a.state, "result": a.result}
                            for a, cb in zip(inbox_view.attempts(c, now, at), c.callbacks,
                                             strict=True)]} for c in d.cases]
    context = {"c": d.call, "started": cq.local(d.call.started_at, tz),
               "official": d.official.display_name if d.official else "",
               "steps": steps, "cases": cases, "voicemail": d.voicemail,
               "expected_party": ex.EXPECTED_PARTY.get(d.call.mode, "official")}
    return render(request, "supervision/call.html", context, title="sv.call.title")


def setup(app: web.Application) -> None:
    app[MESSAGES].add(TEXTS)
    app[MESSAGES].add(call_view.TEXTS)
    app[NAV].add(list(READERS), "/supervision/calls", "sv.calls.title")
    app[NAV].add(list(READERS), "/supervision/exceptions", "sv.exceptions.title")
    app[ROUTES].add(app, routes)
