"""The cases inbox page (officials see and act on their own officials' cases only; operators
and admins on all) and the console's quick form that opens a case from a call."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from ivr.core.errors import Forbidden

from ivr.web.compat import add_rules, add_scope
from ivr.web.keys import DB_SESSIONMAKER
from ivr.web.pages import T, esc, lang_of, t
from ivr.db.followup_models import URGENCIES
from ivr.followup import cases as case_service
from ivr.followup.keys import PIPELINE
from ivr.followup.scopes import OFFICIAL_CASE
from ivr.pool.console import CASE_FORM

add_scope(OFFICIAL_CASE.name, OFFICIAL_CASE.roles, OFFICIAL_CASE.check)

_A, _O, _F, _S = "admin", "operator", "official", "supervisor"


# --- the inbox page ---------------------------------------------------------------------------

async def inbox(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    from ivr.followup import cases as case_service
    from ivr.db.followup_models import CASE_STATES, Transcript
    from ivr.http import identity_of
    from ivr.web.pages import csrf_field, esc, page, t

    ident = identity_of(request)
    official = str(ident.official_id) if ident and ident.role == "official" else None
    if ident and ident.role == "official" and ident.official_id is None:
        raise Forbidden("账号未关联官员 / this account is not linked to an official")
    db = request.config_dict[DB_SESSIONMAKER]
    items = await case_service.list_cases(db, case_service.CaseFilter(
        official=official, status=request.query.get("status") or None, limit=200))
    texts: dict[int, str] = {}
    vm_ids = [c.voicemail_id for c in items if c.voicemail_id]
    if vm_ids:
        async with db() as session:
            for tr in (await session.scalars(select(Transcript).where(
                    Transcript.voicemail_id.in_(vm_ids)))).all():
                texts[tr.voicemail_id] = tr.text
    rows = []
    now = case_service.utcnow()
    phone = await _callback_phone(request, ident)
    for c in items:
        opts = "".join(f'<option value="{s}"{" selected" if s == c.status else ""}>{s}</option>'
                       for s in CASE_STATES)
        audio = (f'<audio controls preload="metadata" class="vm" data-case="{c.id}" '
                 f'src="/api/v1/cases/{c.id}/audio"></audio>' if c.voicemail_id else "")
        overdue = case_service.is_overdue(c.status, c.deadline, now)
        rows.append(
            f'<tr id="case-{c.id}"{" class=overdue" if overdue else ""}><td>{c.id}</td>'
            f'<td>{esc(c.caller)}<br><small>{esc(c.number_dialed)}</small></td>'
            f'<td>{esc(c.urgency)}<br>{esc(c.category or "")}</td>'
            f'<td class="transcript">{esc(texts.get(c.voicemail_id or -1, ""))}'
            f'{_summary(c)}{audio}</td>'
            f'<td><form method="post" action="/cases/{c.id}/status" class="inline">'
            f'{csrf_field(request)}<select name="status">{opts}</select>'
            f'<button type="submit">{esc(t(request, "save"))}</button></form>'
            f'{_callback_button(request, c, phone)}</td>'
            f'<td>{esc(c.deadline.isoformat(timespec="minutes") if c.deadline else "")}'
            f'{" ⚠" if overdue else ""}</td></tr>')
    body = ("<table id=\"cases\"><thead><tr><th>#</th><th>" + esc(t(request, "caller"))
            + "</th><th>urgency</th><th>transcript</th><th>" + esc(t(request, "state"))
            + "</th><th>deadline</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    return page(request, "cases", body, error=error, status=status, scripts=["cases.js"])


def _summary(c: Any) -> str:
    """Kind ``call``: the operator's summary (ivr.followup.call_cases)."""
    from ivr.web.pages import esc

    text = getattr(c, "summary", "") or ""
    return f'<p class="summary" data-kind="{esc(c.kind)}">{esc(text)}</p>' if text else ""


async def _callback_phone(request: web.Request, ident: Any) -> str | None:
    """The phone rung first by a click-to-call-back: the operator's own, the official's SIP
    phone; "" for an admin (who types it); None for who may not call back (supervisor)."""
    from ivr.db.models import Device

    if ident is None or ident.role == "supervisor":
        return None
    if ident.role == "operator":
        return ident.operator_endpoint or None
    if ident.role == "official":
        async with request.config_dict[DB_SESSIONMAKER]() as session:
            return await session.scalar(
                select(Device.endpoint).where(Device.official_id == ident.official_id,
                                              Device.kind == "sip").order_by(Device.priority)
                .limit(1)) or None
    return ""


def _callback_button(request: web.Request, c: Any, phone: str | None) -> str:
    """Click-to-call-back: POST /api/v1/cases/{id}/callback with the CSRF header (cases.js)."""
    from ivr.web.pages import esc, t

    if phone is None or c.status == "resolved" or not c.caller:
        return ""
    where = (f'<input class="cb-endpoint" size="8" placeholder="{esc(t(request, "endpoint"))}">'
             if phone == "" else "")
    return (f'<div class="callback">{where}<button type="button" class="cb" data-case="{c.id}" '
            f'data-endpoint="{esc(phone)}" id="callback-{c.id}">{esc(t(request, "call_back"))}'
            f'</button><span class="cb-result" id="cb-result-{c.id}" role="status"></span></div>')


async def post_case_status(request: web.Request) -> web.Response:
    from ivr.core.errors import IvrError
    from ivr.followup import cases as case_service
    from ivr.http import identity_of

    raw = request.match_info["id"]
    form = await request.post()
    ident = identity_of(request)
    try:
        if not raw.isdigit() or len(raw) > 12:
            raise Forbidden("工单编号无效 / invalid case id")
        await case_service.change_status(request.config_dict[DB_SESSIONMAKER], int(raw),
                                         str(form.get("status", "")), ident.actor if ident else "web")
    except IvrError as exc:
        msg = str(exc)
        if not any("\u4e00" <= ch <= "\u9fff" for ch in msg):
            msg = f"输入无效 / Invalid input: {msg}"
        return await inbox(request, error=msg, status=exc.status)
    raise web.HTTPSeeOther("/cases")


add_rules([
    ("GET", "/cases", [_A, _S, _O, _F], None),
    ("POST", "/cases/{id}/status", [_A, _O, _F], "official_case"),
])


async def overdue_by_official(db: Any, since: Any, until: Any) -> dict[int, int]:
    """Cases created in the period that are overdue now (open past their deadline)."""
    from sqlalchemy import func

    from ivr.followup.cases import OPEN_STATES, utcnow
    from ivr.db.followup_models import Case

    async with db() as session:
        rows = (await session.execute(
            select(Case.official_id, func.count()).where(
                Case.created_at >= since, Case.created_at < until, Case.status.in_(OPEN_STATES),
                Case.deadline < utcnow()).group_by(Case.official_id))).all()
    return {oid: n for oid, n in rows if oid is not None}


def setup_cases_ui(app: web.Application) -> Any:
    from ivr.web.pages import NAV
    from ivr.calls.stats import OVERDUE_CASES

    app[OVERDUE_CASES] = overdue_by_official

    for role in ("admin", "operator", "official", "supervisor"):
        if ("/cases", "cases") not in NAV[role]:
            NAV[role].append(("/cases", "cases"))
    app.router.add_get("/cases", inbox)
    app.router.add_post("/cases/{id}/status", post_case_status)
    app[CASE_FORM] = case_form  # the console's form: POST /api/v1/cases (ivr.followup.call_cases)


# --- the console's quick form (posts to POST /api/v1/cases) ---------------------------------

T.update({
    "case_category": ("类别", "Category"), "case_summary": ("摘要", "Summary"),
    "case_urgency": ("紧急程度", "Urgency"), "urgent": ("紧急", "urgent"), "normal": ("一般", "normal"),
    "case_submit": ("创建工单 (Enter)", "Open case (Enter)"), "choose": ("请选择", "choose"),
    "case_opened": ("已创建工单", "Case opened"), "call_back": ("回拨", "Call back"),
    "callback_placed": ("正在回拨", "Calling back"), "summary_hint": (
        "来电事由，回车提交", "What the citizen called about; Enter submits"),
})


def categories(request: web.Request) -> list[tuple[str, str]]:
    """(key, label in the page's language) of every category a case may have."""
    rules, en = request.config_dict[PIPELINE].rules, lang_of(request) == "en"
    out = [(c.key, c.label_en if en else c.label_zh) for c in rules.categories]
    if rules.default_category not in {k for k, _ in out}:
        out.append((rules.default_category, rules.default_category if en else "其他"))
    return out


def case_form(request: web.Request) -> str:
    cats = "".join(f'<option value="{esc(k)}">{esc(label)}</option>' for k, label in categories(request))
    urg = "".join(f'<option value="{u}"{" selected" if u == "normal" else ""}>{esc(t(request, u))}</option>'
                  for u in reversed(URGENCIES))
    return f"""<form id="case-form" class="case-form" autocomplete="off">
<h3>{esc(t(request, "open_case"))}</h3>
<input type="hidden" name="linkedid" id="case-linkedid" value="">
<label>{esc(t(request, "case_category"))}<select name="category" id="case-category" required>
<option value="">— {esc(t(request, "choose"))} —</option>{cats}</select></label>
<label class="wide">{esc(t(request, "case_summary"))}<textarea name="summary" id="case-summary" rows="2"
 maxlength="{case_service.SUMMARY_MAX}" placeholder="{esc(t(request, "summary_hint"))}"></textarea></label>
<label>{esc(t(request, "case_urgency"))}<select name="urgency" id="case-urgency">{urg}</select></label>
<button type="submit" id="case-submit">{esc(t(request, "case_submit"))}</button>
<p id="case-result" role="status" class="flash" hidden></p>
<p id="case-error" role="alert" class="error" hidden></p>
<span id="case-i18n" hidden data-opened="{esc(t(request, "case_opened"))}"></span></form>"""
