"""Cases opened by an operator from a call (issue 4: "a form to open a case from the call —
category, summary, assign to the official — in a few keystrokes").

- ``POST /api/v1/cases`` {linkedid | call_id, category, summary, urgency?}: operators and admins
  (rule below). The call must exist: its stored record, or — while it is still going on, before
  the recorder writes the record — the live view the recorder folded from its events. The case
  (kind ``call``) gets the category the operator chose (one of the triage rules' categories),
  their summary, the call's caller and dialed number, and is assigned at once to the official
  whose number was dialed; deadline by urgency (``[cases] deadline_hours``). Bad input: 400/404,
  nothing written.
- The console's quick form (``console.CASE_FORM`` hook): category select, summary (focused when a
  call connects; Enter submits, Shift+Enter a new line), urgency; posts to the route above with
  the session's CSRF header (static/cases.js) and shows the new case's number.
"""

from __future__ import annotations


from aiohttp import web

from ivr.core.errors import InvalidInput
from ivr.followup import cases as case_service
from ivr.followup.cases import CallRef
from ivr.db.followup_models import URGENCIES
from ivr.followup.triage import Rules, RulesError, load_rules
from ivr.http.inputs import actor_of as _actor, read_json_object as _body
from ivr.web.compat import add_rules
from ivr.followup.http import PIPELINE, case_json
from ivr.web.keys import CONFIG, DB_SESSIONMAKER
from ivr.web.compat import PREFIX, register_paths
from ivr.web.pages import T, esc, lang_of, t

T.update({
    "case_category": ("类别", "Category"), "case_summary": ("摘要", "Summary"),
    "case_urgency": ("紧急程度", "Urgency"), "urgent": ("紧急", "urgent"), "normal": ("一般", "normal"),
    "case_submit": ("创建工单 (Enter)", "Open case (Enter)"), "choose": ("请选择", "choose"),
    "case_opened": ("已创建工单", "Case opened"), "call_back": ("回拨", "Call back"),
    "callback_placed": ("正在回拨", "Calling back"), "summary_hint": (
        "来电事由，回车提交", "What the citizen called about; Enter submits"),
})


def _rules(request: web.Request) -> Rules:
    pipeline = request.config_dict.get(PIPELINE)
    rules = getattr(pipeline, "rules", None)
    if rules is not None:
        return rules
    try:
        return load_rules(request.config_dict[CONFIG].cases.triage_rules or None)
    except RulesError:
        return load_rules()


def categories(request: web.Request) -> list[tuple[str, str]]:
    """(key, label in the page's language) of every category a case may have."""
    rules, en = _rules(request), lang_of(request) == "en"
    out = [(c.key, c.label_en if en else c.label_zh) for c in rules.categories]
    if rules.default_category not in {k for k, _ in out}:
        out.append((rules.default_category, rules.default_category if en else "其他"))
    return out


def _hours(request: web.Request) -> dict[str, float]:
    pipeline = request.config_dict.get(PIPELINE)
    hours = getattr(pipeline, "hours", None)
    return dict(hours) if hours else case_service.deadline_hours(request.config_dict[CONFIG].cases.deadline_hours)


def _live_call(request: web.Request, linkedid: str) -> CallRef | None:
    """The call as the recorder sees it while it is going on (no stored record yet)."""
    from ivr.pool.console import HUB

    hub = request.config_dict.get(HUB)
    view = hub.views.get(linkedid) if hub is not None else None
    if view is None:
        return None
    return CallRef(view.linkedid, view.number_dialed or "", view.caller or "", view.official_id)


async def post_case(request: web.Request) -> web.Response:
    body = await _body(request)
    linkedid, call_id = body.get("linkedid"), body.get("call_id")
    if call_id is not None and (isinstance(call_id, bool) or not isinstance(call_id, int)):
        raise InvalidInput("call_id must be a number", {"field": "call_id"})
    if call_id is None and (not isinstance(linkedid, str) or not linkedid.strip()
                            or len(linkedid) > 64):
        raise InvalidInput("请指明来电 / give the call: linkedid (or call_id)", {"field": "linkedid"})
    # validate the form before looking the call up: bad input is 400 whatever the call
    keys = [k for k, _ in categories(request)]
    case_service.check_call_case(body.get("category"), body.get("summary"), body.get("urgency"), keys)
    db = request.config_dict[DB_SESSIONMAKER]
    linkedid = linkedid.strip() if isinstance(linkedid, str) else None
    call = await case_service.find_call(db, linkedid=linkedid, call_id=call_id,
                                        live=_live_call(request, linkedid) if linkedid else None)
    case = await case_service.open_call_case(
        db, call, category=body.get("category"), summary=body.get("summary"),
        urgency=body.get("urgency"), actor=_actor(request, body), categories=keys,
        hours=_hours(request))
    return web.json_response(case_json(case), status=201)


# --- the console's quick form ------------------------------------------------------------

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


add_rules([("POST", f"{PREFIX}/cases", ["admin", "operator"], None)])

register_paths({"/cases": {"post": {
    "summary": "Open a case from a call (operator): category, summary, assigned to the official "
               "whose number was dialed; the call may still be going on",
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["category", "summary"], "properties": {
            "linkedid": {"type": "string", "maxLength": 64,
                         "description": "the call's linkedid (a live call has no id yet)"},
            "call_id": {"type": "integer", "description": "or the stored call's id"},
            "category": {"type": "string", "description": "a category of the triage rules"},
            "summary": {"type": "string", "minLength": 1,
                        "maxLength": case_service.SUMMARY_MAX},
            "urgency": {"enum": list(URGENCIES), "default": "normal"}}}}}},
    "responses": {
        "201": {"description": "the new case (kind call, status assigned)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Case"}}}},
        **{str(c): {"description": d, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}}}}
           for c, d in ((400, "invalid input (category, summary, urgency, call reference)"),
                        (401, "missing or wrong bearer token"), (403, "role not allowed"),
                        (404, "no such call"))}}}}})


def setup_call_cases(app: web.Application) -> None:
    from ivr.pool.console import CASE_FORM

    app[CASE_FORM] = case_form
    app.router.add_post(f"{PREFIX}/cases", post_case)
