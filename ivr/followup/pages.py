"""The cases inbox page (``/cases``: transcript or the operator's summary, urgency, category,
audio player, status change, click-to-call-back) and the console's quick case form. Officials
see and act on their own officials' cases only (``ivr.followup.scopes.OFFICIAL_CASE``)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import select

from ivr.core.errors import Forbidden, IvrError
from ivr.core.identity import Identity
from ivr.core.ids import parse_id
from ivr.core.timeutil import utcnow
from ivr.db.followup_models import CASE_STATES, URGENCIES, Case, Transcript
from ivr.db.models import Device
from ivr.followup import cases as case_service
from ivr.followup.keys import PIPELINE
from ivr.followup.scopes import OFFICIAL_CASE
from ivr.http import DB, ROUTES, Routes, require_identity
from ivr.http.pages import MESSAGES, NAV, error_text, lang_of, render
from ivr.pool.console import CASE_FORM, Panel

routes = Routes("cases")
_A, _O, _F, _S = "admin", "operator", "official", "supervisor"

TEXTS: dict[str, tuple[str, str]] = {
    "cases.title": ("工单", "Cases"),
    "cases.caller": ("来电号码", "Caller"), "cases.urgency": ("紧急程度", "Urgency"),
    "cases.transcript": ("留言内容", "Transcript"), "cases.status": ("状态", "Status"),
    "cases.deadline": ("期限", "Deadline"), "cases.save": ("保存", "Save"),
    "cases.endpoint": ("分机", "Endpoint"), "cases.call_back": ("回拨", "Call back"),
    # the console's quick form
    "cases.open_case": ("从来电创建工单", "Open a case from this call"),
    "cases.category": ("类别", "Category"), "cases.choose": ("请选择", "choose"),
    "cases.summary": ("摘要", "Summary"),
    "cases.summary_hint": ("来电事由，回车提交", "What the citizen called about; Enter submits"),
    "cases.urgency.urgent": ("紧急", "urgent"), "cases.urgency.normal": ("一般", "normal"),
    "cases.submit": ("创建工单 (Enter)", "Open case (Enter)"),
    "cases.opened": ("已创建工单", "Case opened"),
}


class InboxQuery(BaseModel):
    status: str = Field("", max_length=20, description="only cases in this status")


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
    transcript: str
    summary: str
    audio: bool
    overdue: bool
    deadline: str
    callback: bool


async def _transcripts(request: web.Request, items: list[Case]) -> dict[int, str]:
    vm_ids = [c.voicemail_id for c in items if c.voicemail_id]
    if not vm_ids:
        return {}
    async with request.config_dict[DB]() as session:
        found = (await session.scalars(select(Transcript).where(
            Transcript.voicemail_id.in_(vm_ids)))).all()
    return {tr.voicemail_id: tr.text for tr in found}


async def _callback_phone(request: web.Request, identity: Identity) -> str | None:
    """The phone rung first by a click-to-call-back: the operator's own, the official's SIP
    phone; "" for an admin (who types it); None for who may not call back (supervisor)."""
    if identity.role == _S:
        return None
    if identity.role == _O:
        return identity.operator_endpoint or None
    if identity.role == _F:
        async with request.config_dict[DB]() as session:
            return await session.scalar(
                select(Device.endpoint).where(Device.official_id == identity.official_id,
                                              Device.kind == "sip").order_by(Device.priority)
                .limit(1)) or None
    return ""


async def _inbox(request: web.Request, status: str, *, error: str = "",
                 http_status: int = 200) -> web.Response:
    identity = require_identity(request)
    official = None
    if identity.role == _F:
        if identity.official_id is None:
            raise Forbidden("this account is not linked to an official")
        official = str(identity.official_id)
    items = list(await case_service.list_cases(request.config_dict[DB], case_service.CaseFilter(
        official=official, status=status or None, limit=200)))
    texts = await _transcripts(request, items)
    phone = await _callback_phone(request, identity)
    now = utcnow()
    rows = [Row(id=c.id, kind=c.kind, status=c.status, caller=c.caller or "",
                number_dialed=c.number_dialed or "", urgency=c.urgency, category=c.category or "",
                transcript=texts.get(c.voicemail_id, "") if c.voicemail_id else "",
                summary=c.summary or "", audio=bool(c.voicemail_id),
                overdue=case_service.is_overdue(c.status, c.deadline, now),
                deadline=c.deadline.isoformat(timespec="minutes") if c.deadline else "",
                callback=phone is not None and c.status != "resolved" and bool(c.caller))
            for c in items]
    return render(request, "followup/cases.html",
                  {"rows": rows, "states": CASE_STATES, "phone": phone or ""},
                  title="cases.title", error=error, status=http_status, scripts=["cases.js"])


@routes.get("/cases", roles=[_A, _S, _O, _F], query=InboxQuery)
async def inbox(request: web.Request, query: InboxQuery) -> web.Response:
    """The cases inbox (an official: their own officials' cases)."""
    return await _inbox(request, query.status)


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
        return await _inbox(request, "", error=error_text(request, exc), http_status=exc.status)
    raise web.HTTPSeeOther("/cases")


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
    app[NAV].add([_A, _O, _F, _S], "/cases", "cases.title")
    app[ROUTES].add(app, routes)
