"""The cases inbox page (``/cases``: transcript or the operator's summary, urgency, category,
audio player, status change, click-to-call-back) and the console's quick case form. Officials
see and act on their own officials' cases only (``ivr.followup.scopes.OFFICIAL_CASE``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import select

from ivr.core.errors import Forbidden, IvrError
from ivr.core.identity import Identity
from ivr.core.ids import parse_id
from ivr.core.timeutil import utcnow
from ivr.db.followup_models import CASE_KINDS, CASE_STATES, URGENCIES, Case, Transcript
from ivr.db.models import Official
from ivr.followup import cases as case_service
from ivr.followup import inbox_view, notes_view
from ivr.followup.callback_guard import awaiting_approval, own_phones
from ivr.followup.keys import PIPELINE
from ivr.followup.scopes import OFFICIAL_CASE
from ivr.followup.transcript_view import TEXTS as TRANSCRIPT_TEXTS
from ivr.followup.transcript_view import TranscriptView, view
from ivr.http import DB, ROUTES, Routes, require_identity
from ivr.http.pages import MESSAGES, NAV, error_text, lang_of, render, t, when
from ivr.pool.console import CASE_FORM, Panel

routes = Routes("cases")
_A, _O, _F, _S = "admin", "operator", "official", "supervisor"

TEXTS: dict[str, tuple[str, str]] = {
    "cases.title": ("工单", "Cases"),
    "cases.caller": ("来电号码", "Caller"), "cases.urgency": ("紧急程度", "Urgency"),
    "cases.transcript": ("留言内容", "Transcript"), "cases.status": ("状态", "Status"),
    "cases.deadline": ("期限", "Deadline"), "cases.save": ("保存", "Save"),
    "cases.call_back": ("回拨", "Call back"),
    "cases.altered": ("来电号码经过改写，回拨须管理员批准",
                      "Caller ID altered: an admin must approve a callback"),
    "cases.approve": ("批准回拨", "Approve callback"),
    "cases.approve_reason": ("批准理由", "Reason"),
    "cases.approved": ("已批准回拨", "Callback approved"),
    "cases.contact_by": ("联系期限", "Contact by"), "cases.resolve_by": ("办结期限", "Resolve by"),
    "cases.escalated": ("已升级", "Escalated"), "cases.history": ("处理记录", "History"),
    "cases.endpoint": ("分机", "Endpoint"),
    # the automatic callback duty (issue 10)
    "cases.duty.open": ("自动回拨进行中", "Automatic callback under way"),
    "cases.duty.closed": ("已回拨联系上", "Called back: reached"),
    "cases.duty.unreachable": ("多次回拨无法接通", "Unreachable after the callback attempts"),
    "cases.duty.refused": ("不能自动回拨", "Not called back automatically (refused)"),
    # the console's quick form
    "cases.open_case": ("从来电创建工单", "Open a case from this call"),
    "cases.category": ("类别", "Category"), "cases.choose": ("请选择", "choose"),
    "cases.summary": ("摘要", "Summary"),
    "cases.summary_hint": ("来电事由，回车提交", "What the citizen called about; Enter submits"),
    "cases.urgency.urgent": ("紧急", "urgent"), "cases.urgency.normal": ("一般", "normal"),
    "cases.submit": ("创建工单（回车）", "Open case (Enter)"),
    "cases.wait_call": ("接通来电后，可在此从来电创建工单", "Once a call connects, open its case here"),
    "cases.opened": ("已创建工单", "Case opened"),
}


class InboxQuery(BaseModel):
    status: str = Field("", max_length=20, description="only cases in this status")
    official: str = Field("", max_length=40, description="admins, supervisors: one official's "
                                                         "cases (slug)")
    kind: str = Field("", max_length=12, description="voicemail, missed or call")
    owner: str = Field("", max_length=80, description="admins, supervisors: cases assigned to "
                                                      "this owner")


@dataclass(frozen=True)
class Row:
    """One case as the inbox shows it (every value already a display string)."""
    id: int
    kind: str
    status: str
    caller: str
    number_dialed: str
    urgency: str
    category: str
    transcript: TranscriptView | None   # a voicemail's (words, correction, listen reasons)
    can_correct: bool
    summary: str
    audio: bool
    overdue: bool
    deadline: datetime | None
    callback: bool
    altered: bool  # the caller ID was altered on the way in and no admin approved a callback
    approve: bool  # the asker (an admin) may approve calling it back
    resolve_deadline: datetime | None = None
    escalated: str = ""  # "level 1 → name", empty when not escalated
    history: tuple[inbox_view.Event, ...] = ()
    duty: str = ""  # the automatic callback duty (open, closed, unreachable, refused), if any
    call_at: str = ""  # the call's arrival, local time
    attempts: tuple[inbox_view.Attempt, ...] = ()
    owner: str = ""
    official: str = ""
    repeat: int = 1  # cases of this caller in the list
    transcribed: bool = True  # a voicemail's transcript exists


async def _transcripts(request: web.Request, items: list[Case]) -> dict[int, Transcript]:
    vm_ids = [c.voicemail_id for c in items if c.voicemail_id]
    if not vm_ids:
        return {}
    async with request.config_dict[DB]() as session:
        found = (await session.scalars(select(Transcript).where(
            Transcript.voicemail_id.in_(vm_ids)))).all()
    return {tr.voicemail_id: tr for tr in found}


async def _names(request: web.Request) -> dict[int, tuple[str, str]]:
    """official id → (slug, name) of every official (the filter's pick-list, the columns)."""
    async with request.config_dict[DB]() as session:
        rows = (await session.execute(select(Official.id, Official.slug, Official.name)
                                      .order_by(Official.slug))).all()
    return {oid: (slug, name) for oid, slug, name in rows}


def _escalation(request: web.Request, c: Case, names: dict[int, tuple[str, str]]) -> str:
    if not c.escalation_level:
        return ""
    to = names.get(c.escalated_to or -1, ("", ""))[1]
    return f"{c.escalation_level} → {to}".strip(" →") + \
        (f"{t(request, 'p.open')}{when(request, c.escalation_deadline, zone=True)}"
         f"{t(request, 'p.close')}" if c.escalation_deadline else "")


async def _callback_phone(request: web.Request, identity: Identity) -> str | None:
    """The phone rung first by a click-to-call-back: the operator's own, the official's first
    SIP phone; None for who has no phone (admins and supervisors assign the case instead)."""
    async with request.config_dict[DB]() as session:
        own = await own_phones(session, identity)
    return own[0] if own else None


async def _inbox(request: web.Request, query: InboxQuery, *, error: str = "",
                 http_status: int = 200) -> web.Response:
    identity = require_identity(request)
    official = None
    names = await _names(request)
    wide = identity.role in (_A, _S)  # admins and supervisors filter by official and owner
    if identity.role == _F:
        if identity.official_id is None:
            raise Forbidden("this account is not linked to an official")
        official = str(identity.official_id)
    elif wide and query.official:
        official = query.official
    kind = query.kind if query.kind in CASE_KINDS else None
    status = query.status if query.status in CASE_STATES else None
    items = list(await case_service.list_cases(request.config_dict[DB], case_service.CaseFilter(
        official=official, status=status, kind=kind, limit=200)))
    if wide and query.owner:
        items = [c for c in items if (c.assigned_to or "") == query.owner]
    items = inbox_view.grouped(items)
    repeats = inbox_view.repeat_counts(items)
    texts = await _transcripts(request, items)
    phone = await _callback_phone(request, identity)
    async with request.config_dict[DB]() as session:
        altered = await awaiting_approval(session, items)
        call_at = await inbox_view.call_times(session, items)
    now = utcnow()
    min_conf = request.config_dict[PIPELINE].rules.min_confidence

    def at(dt: datetime | None) -> str:
        return when(request, dt)

    def text(key: str) -> str:
        return t(request, key)

    slugs = dict(names.values())
    rows = [Row(id=c.id, kind=c.kind, status=c.status, caller=c.caller or "",
                number_dialed=c.number_dialed or "", urgency=c.urgency, category=c.category or "",
                transcript=view(c, texts.get(c.voicemail_id), min_conf) if c.voicemail_id
                else None, can_correct=bool(c.voicemail_id) and identity.role in (_A, _F),
                summary=c.summary or "", audio=bool(c.voicemail_id),
                overdue=case_service.is_overdue(c.status, c.deadline, now),
                deadline=c.deadline,
                callback=phone is not None and c.status != "resolved" and bool(c.caller),
                altered=c.id in altered,
                approve=c.id in altered and identity.role == _A and c.status != "resolved",
                resolve_deadline=c.resolve_deadline,
                escalated=_escalation(request, c, names),
                history=tuple(inbox_view.events(c, at, text, slugs,
                                                lambda dt: when(request, dt, zone=True))),
                duty=c.callback_duty if c.callback_duty and c.callback_duty != "off" else "",
                call_at=at(call_at.get(c.id)), attempts=tuple(inbox_view.attempts(c, now, at)),
                owner=c.assigned_to or "", official=names.get(c.official_id or -1, ("", ""))[1],
                repeat=repeats.get(c.caller or "", 1),
                transcribed=not c.voicemail_id or c.voicemail_id in texts)
            for c in items]
    owners = sorted({c.assigned_to for c in items if c.assigned_to} | (
        {query.owner} if query.owner else set()))
    return render(request, "followup/cases.html",
                  {"rows": rows, "states": CASE_STATES, "kinds": CASE_KINDS, "phone": phone or "",
                   "wide": wide, "officials": [(s, n) for s, n in names.values()],
                   "category_labels": dict(categories(request)),
                   "owners": owners, "q": query},
                  title="cases.title", error=error, status=http_status, scripts=["cases.js"])


@routes.get("/cases", roles=[_A, _S, _O, _F], query=InboxQuery)
async def inbox(request: web.Request, query: InboxQuery) -> web.Response:
    """The cases inbox (an official: their own officials' cases)."""
    return await _inbox(request, query)


@routes.post("/cases/{id}/status", roles=[_A, _O, _F], scope=OFFICIAL_CASE)
async def post_case_status(request: web.Request) -> web.Response:
    """Change a case's status from the inbox form."""
    raw = request.match_info["id"]
    form = await request.post()
    try:
        case_id = parse_id(raw)
        if case_id is None:
            raise Forbidden("invalid case id")
        await case_service.change_status(request.config_dict[DB], case_id,
                                         str(form.get("status", "")),
                                         require_identity(request).actor)
    except IvrError as exc:
        return await inbox_with_error(request, exc)
    raise web.HTTPSeeOther("/cases")


async def inbox_with_error(request: web.Request, exc: IvrError) -> web.Response:
    """The inbox again, with what went wrong (a form on it was refused)."""
    return await _inbox(request, InboxQuery(), error=error_text(request, exc),
                        http_status=exc.status)


def categories(request: web.Request) -> list[tuple[str, str]]:
    """(key, label in the page's language) of every category a case may have."""
    rules, en = request.config_dict[PIPELINE].rules, lang_of(request) == "en"
    out = [(c.key, c.label_en if en else c.label_zh) for c in rules.categories]
    if rules.default_category not in {k for k, _ in out}:
        out.append((rules.default_category, rules.default_category if en else "其他"))
    return out


def case_form(request: web.Request) -> Panel:
    """The console's quick case form: categories of the triage rules, summary, urgency."""
    return Panel("followup/case_form.html", {
        "categories": categories(request), "urgencies": tuple(reversed(URGENCIES)),
        "summary_max": case_service.SUMMARY_MAX})


def setup(app: web.Application) -> None:
    """The inbox page, and the case form on the operator console (``ivr.pool.console``)."""
    app[CASE_FORM] = case_form
    app[MESSAGES].add(TEXTS)
    app[MESSAGES].add(TRANSCRIPT_TEXTS)
    app[MESSAGES].add(inbox_view.TEXTS)
    app[MESSAGES].add(notes_view.TEXTS)
    app[NAV].add([_A, _O, _F, _S], "/cases", "cases.title")
    app[ROUTES].add(app, routes)
