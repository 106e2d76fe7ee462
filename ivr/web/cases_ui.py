"""Authorization rules for the cases API (ivr.web.cases_api, issue 3) and the cases inbox page:
officials see and act on their own officials' cases only; operators and admins on all.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from ivr.web.auth import Forbidden, Identity, add_rules, add_scope
from ivr.web.keys import DB_SESSIONMAKER

PREFIX = "/api/v1"


async def _case_owner(request: web.Request, case_id: int) -> tuple[bool, int | None]:
    from ivr.voicemail.db import Case

    async with request.config_dict[DB_SESSIONMAKER]() as session:
        row = (await session.execute(select(Case.id, Case.official_id).where(Case.id == case_id))).first()
    return (row is not None, row[1] if row else None)


async def _scope_official_case(request: web.Request, identity: Identity) -> web.Request:
    raw = request.match_info.get("id", "")
    if raw.isdigit() and len(raw) <= 12:
        exists, owner = await _case_owner(request, int(raw))
        if exists and owner != identity.official_id:
            raise Forbidden("只能查看本人的工单 / you may only see your own cases")
    return request


add_scope("official_case", ["official"], _scope_official_case)

_A, _O, _F, _S = "admin", "operator", "official", "supervisor"
add_rules([
    ("GET", f"{PREFIX}/cases", [_A, _S, _O, _F], "official_query"),
    ("GET", f"{PREFIX}/cases/{{id}}", [_A, _S, _O, _F], "official_case"),
    ("GET", f"{PREFIX}/cases/{{id}}/audio", [_A, _S, _O, _F], "official_case"),
    ("PUT", f"{PREFIX}/cases/{{id}}/status", [_A, _O, _F], "official_case"),
    ("PUT", f"{PREFIX}/cases/{{id}}/assignee", [_A, _O, _S], None),
    ("POST", f"{PREFIX}/cases/{{id}}/callback", [_A, _O, _F], "official_case"),
    ("POST", f"{PREFIX}/cases/{{id}}/transcription", [_A], None),
    ("PUT", f"{PREFIX}/officials/{{slug}}/greeting", [_A], None),
])


def setup_cases_ui(app: web.Application) -> Any:
    """The inbox pages (added when built); the rules above load on import."""
    return None
