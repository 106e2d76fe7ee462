"""Server-rendered HTML for the web UI: language (Mandarin first, English switch), layout, forms.

Every string shown goes through :func:`t`; every value goes through :func:`esc`. Forms carry the
session's CSRF token (:func:`csrf_field`). No asset comes from outside: /static holds a small
stylesheet and script.
"""

from __future__ import annotations

import html
from typing import Any, Iterable

from aiohttp import web

from ivr.core.identity import Identity

from ivr.http import identity_of
from ivr.http.pages import MESSAGES, NAV as APP_NAV

LANG_COOKIE = "ivr_lang"
LANGS = ("zh", "en")

T: dict[str, tuple[str, str]] = {
    "app": ("政务热线路由", "Officials' hotline routing"),
    "logout": ("退出", "Sign out"),
    "directory": ("官员目录", "Directory"), "audit": ("审计日志", "Audit log"),
    "operators": ("话务员与话务组", "Operators and pools"), "users": ("账号与令牌", "Accounts and tokens"),
    "console": ("话务台", "Operator console"), "dashboard": ("监督统计", "Supervision dashboard"),
    "cases": ("工单", "Cases"),
    "official": ("官员", "Official"), "reason": ("原因", "Reason"),
    "save": ("保存", "Save"), "direct": ("直接接听", "direct"), "pool": ("话务组", "pool"),
    "deputy": ("副职代接", "deputy"),
    "official": ("官员", "Official"), "numbers": ("公布号码", "Published numbers"),
    "mode": ("当前模式", "Current mode"), "switch": ("切换", "Switch"), "reason": ("原因", "Reason"),
    "schedule": ("时间表", "Schedule"), "save": ("保存", "Save"), "availability": ("状态", "Availability"),
    "direct": ("直接接听", "direct"), "pool": ("话务组", "pool"), "deputy": ("副职代接", "deputy"),
    "voicemail": ("留言", "voicemail"), "message": ("提示音", "message"),
    "at": ("时间", "At"), "actor": ("操作人", "Actor"), "field": ("项目", "Field"),
    "new": ("新值", "New"),
    "name": ("姓名", "Name"), "endpoint": ("分机", "Endpoint"), "state": ("状态", "State"),
    "queue": ("队列", "Queue"), "ready": ("已登录·就绪", "logged in, ready"), "paused": ("暂停", "paused"),
    "logged_out": ("已退出", "logged out"),
    "my_state": ("我的状态", "My state"), "set_state": ("设置", "Set"),
    "live_call": ("当前来电", "Live call"), "no_call": ("暂无来电", "No call"),
    "dialed": ("拨打号码", "Number dialed"), "whose": ("号码归属", "Whose number"),
    "caller": ("来电号码", "Caller"), "earlier": ("此来电者的历史来电", "This caller's earlier calls"),
    "waiting": ("排队人数", "Waiting"), "longest": ("最长等待", "Longest wait"),
    "outcome": ("结果", "Outcome"), "answered_by": ("接听人", "Answered by"),
    "period_from": ("开始", "From"), "period_to": ("结束", "To"), "show": ("查看", "Show"),
    "calls": ("来电", "Calls"), "answered_pct": ("接通率", "Answered %"),
    "by_self": ("本人接听", "Answered by the official"), "by_others": ("他人接听", "Answered by others"),
    "abandoned_pct": ("放弃率", "Abandoned %"), "asa": ("平均应答(秒)", "Avg. speed of answer (s)"),
    "service_level": ("20秒内接通率", "Service level (20 s)"), "overdue": ("逾期工单", "Overdue cases"),
    "per_hour": ("每小时来电", "Calls per hour"), "export_csv": ("导出 CSV", "Export CSV"),
    "per_official": ("按官员", "Per official"), "per_pool": ("按话务组", "Per pool"),
    "total": ("合计", "Total"), "display_name": ("显示名称", "Display name"),
    "error": ("错误", "Error"), "open_case": ("从来电创建工单", "Open a case from this call"),
    "no_cases": ("工单功能尚未启用", "Cases are not available yet"),
    "pause_reason": ("暂停原因", "Pause reason"), "operator_of": ("分机", "Endpoint"),
    "in_progress": ("进行中", "in progress"), "since": ("自", "since"),
    "connected": ("通话中", "connected"), "ringing": ("振铃中", "ringing"), "ended": ("已结束", "ended"),
    "department": ("部门", "Department"),
    "role": ("角色", "Role"), "display_name": ("显示名称", "Display name"),
    "create": ("创建", "Create"), "issue_token": ("签发令牌", "Issue token"), "label": ("标签", "Label"),
    "revoke": ("吊销", "Revoke"), "token_once": ("请立即复制此令牌，它不会再显示：",
                                                 "Copy this token now, it is not shown again:"),
    "saved": ("已保存", "Saved"), "error": ("错误", "Error"), "forbidden": ("没有权限", "Forbidden"),
    "days": ("日期", "Days"), "start": ("开始", "Start"), "end": ("结束", "End"),
    "add_row": ("每行一个时段：日期 开始 结束 模式，例如 mon-fri 18:00 08:30 voicemail",
                "One window per line: days start end mode, e.g. mon-fri 18:00 08:30 voicemail"),
    "greeting": ("上传问候语 (WAV)", "Upload greeting (WAV)"), "upload": ("上传", "Upload"),
    "open_case": ("从来电创建工单", "Open a case from this call"),
    "pause_reason": ("暂停原因", "Pause reason"),
}


def lang_of(request: web.Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "zh")
    return lang if lang in LANGS else "zh"


def t(request: web.Request, key: str) -> str:
    pair = T.get(key)
    if pair is None:
        return key
    return pair[1] if lang_of(request) == "en" else pair[0]


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def csrf_field(request: web.Request) -> str:
    ident = identity_of(request)
    return f'<input type="hidden" name="csrf" value="{esc(ident.csrf if ident else "")}">'


NAV: dict[str, list[tuple[str, str]]] = {
    "admin": [("/admin", "directory"), ("/admin/operators", "operators"), ("/admin/audit", "audit"),
              ("/admin/users", "users"), ("/dashboard", "dashboard")],
    "operator": [("/console", "console")],
    "official": [("/dashboard", "dashboard")],
    "supervisor": [("/dashboard", "dashboard")],
}
EXTRA_NAV: dict[str, list[tuple[str, str]]] = {}  # other features add (href, key) per role


def page(request: web.Request, title_key: str, body: str, *, status: int = 200,
         flash: str = "", error: str = "", scripts: Iterable[str] = ()) -> web.Response:
    ident: Identity | None = identity_of(request)
    lang = lang_of(request)
    nav = ""
    if ident is not None:
        links = NAV.get(ident.role, []) + EXTRA_NAV.get(ident.role, [])
        nav = "".join(f'<a href="{esc(h)}">{esc(t(request, k))}</a>' for h, k in links)
        nav += (f'<span class="who">{esc(ident.display_name)} ({esc(ident.role)})</span>'
                f'<form method="post" action="/logout" class="inline">{csrf_field(request)}'
                f'<button type="submit" id="logout">{esc(t(request, "logout"))}</button></form>')
    here = esc(request.path_qs)
    other = "en" if lang == "zh" else "zh"
    switch = (f'<a id="lang" href="/lang/{other}?next={here}">'
              f'{"English" if other == "en" else "中文"}</a>')
    notes = ""
    if flash:
        notes += f'<p class="flash" role="status">{esc(flash)}</p>'
    if error:
        notes += f'<p class="error" role="alert" id="form-error">{esc(error)}</p>'
    script_tags = "".join(f'<script src="/static/{esc(s)}" defer></script>' for s in scripts)
    text = f"""<!doctype html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(t(request, title_key))} · {esc(t(request, "app"))}</title>
<link rel="stylesheet" href="/static/ivr.css">{script_tags}</head>
<body data-csrf="{esc(ident.csrf if ident else '')}" data-lang="{lang}">
<header><strong>{esc(t(request, "app"))}</strong><nav>{nav}</nav>{switch}</header>
<main><h1>{esc(t(request, title_key))}</h1>{notes}{body}</main></body></html>"""
    return web.Response(text=text, content_type="text/html", status=status,
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                 "style-src 'self' 'unsafe-inline'; media-src 'self'",
                                 "Referrer-Policy": "same-origin"})


def table(headers: list[str], rows: Iterable[Iterable[str]], *, id: str = "", raw: bool = False) -> str:
    """``rows`` are escaped unless ``raw`` (cells already HTML)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else esc(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f'<table{f" id={chr(34)}{esc(id)}{chr(34)}" if id else ""}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def mode_label(request: web.Request, mode: str | None) -> str:
    return t(request, mode) if mode else ""


def install_legacy(app: web.Application) -> None:
    """TEMPORARY (deleted with this module): the texts of ``T`` in the app's Messages, and the
    nav links of the pages not yet converted in the app's Nav (after the features' own)."""
    app[MESSAGES].add(T)
    have = {(role, href) for role, links in app[APP_NAV].links.items() for href, _key in links}
    for role in NAV:
        for href, key in NAV[role] + EXTRA_NAV.get(role, []):
            if (role, href) not in have:
                app[APP_NAV].add([role], href, key)
