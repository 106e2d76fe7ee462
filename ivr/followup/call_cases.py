"""Cases opened by an operator from a call (issue 4: "a form to open a case from the call —
category, summary, assign to the official — in a few keystrokes").

``POST /api/v1/cases`` {linkedid | call_id, category, summary, urgency?}: operators and admins.
The call must exist: its stored record, or — while it is still going on, before the recorder
writes the record — the live view folded from the recorder's events. The case (kind ``call``)
gets the category the operator chose (one of the triage rules' categories), their summary, the
call's caller and dialed number, and is assigned at once to the official whose number was
dialed; deadlines by kind and urgency in working time (``[deadlines]``). Bad input: 400/404, nothing written.

The console's quick form that posts here is a page (``ivr.followup.pages.case_form``).
"""

from __future__ import annotations

from aiohttp import web

from ivr.calls.live import LiveCalls
from ivr.core.constants import API_PREFIX
from ivr.core.errors import InvalidInput
from ivr.followup import cases as case_service
from ivr.followup.cases import CallRef
from ivr.followup.keys import LIVE, PIPELINE
from ivr.followup.schemas import CaseFromCallIn, CaseOut
from ivr.followup.triage import Rules
from ivr.http import DB, Routes
from ivr.http.inputs import actor_of

routes = Routes("cases")


def category_keys(rules: Rules) -> list[str]:
    """Every category a case may have: the rules' categories and the default one."""
    keys = [c.key for c in rules.categories]
    return keys if rules.default_category in keys else [*keys, rules.default_category]


def live_call(calls: LiveCalls | None, linkedid: str) -> CallRef | None:
    """The call as AMI shows it while it is going on (no stored record yet)."""
    view = calls.view(linkedid) if calls is not None else None
    if view is None:
        return None
    return CallRef(view.linkedid, view.number_dialed or "", view.caller or "", view.official_id)


@routes.post(f"{API_PREFIX}/cases", roles=["admin", "operator"], body=CaseFromCallIn,
             response=CaseOut, status=201, errors=[404])
async def post_case(request: web.Request, body: CaseFromCallIn) -> CaseOut:
    """Open a case from a call (operator); the call may still be going on.

    Category and summary as the operator chose, assigned at once to the official whose number
    was dialed (status assigned), deadline by urgency."""
    linkedid = body.linkedid.strip() if body.linkedid is not None else ""
    if body.call_id is None and (not linkedid or len(body.linkedid or "") > 64):
        raise InvalidInput("give the call: linkedid (or call_id)", {"field": "linkedid"})
    # validate the form before looking the call up: bad input is 400 whatever the call
    pipeline = request.config_dict[PIPELINE]
    keys = category_keys(pipeline.rules)
    case_service.check_call_case(body.category, body.summary, body.urgency, keys)
    db = request.config_dict[DB]
    call = await case_service.find_call(
        db, linkedid=linkedid or None, call_id=body.call_id,
        live=live_call(request.config_dict.get(LIVE), linkedid) if linkedid else None)
    case = await case_service.open_call_case(
        db, call, category=body.category, summary=body.summary, urgency=body.urgency,
        actor=actor_of(request, body), categories=keys, deadlines=pipeline.deadlines)
    return CaseOut.of(case)
