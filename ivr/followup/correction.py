"""A transcript corrected by the case owner (the official the case belongs to, or an admin), then
triaged again on the corrected text.

- The recognised text is never overwritten (``transcripts.text``); the correction is stored
  beside it (``corrected_text``, ``corrected_by``, ``corrected_at``) and every correction is a
  case event (``transcript_corrected``, the text in its note): audited, nothing lost.
- A message whose transcription failed (no model, unreadable audio) can be typed in by someone
  who listened: the transcript row is created then, with an empty recognised text.
- Triage re-runs on the corrected text with full confidence (a person wrote it), so category,
  urgency and the listen flag follow the text; the deadline may only get earlier: a correction
  never extends a deadline a citizen was promised.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from ivr.core.constants import API_PREFIX
from ivr.core.errors import InvalidInput, InvalidTranscript, IvrError, NoAudio
from ivr.core.ids import parse_id
from ivr.core.names import CONTROL_CHARS
from ivr.core.timeutil import as_utc, utcnow
from ivr.db.followup_models import Case, Transcript, Voicemail
from ivr.db.session import Db
from ivr.followup.cases import add_event, load_case
from ivr.followup.deadlines import Deadlines
from ivr.followup.keys import PIPELINE
from ivr.followup.pages import inbox_with_error
from ivr.followup.schemas import CaseOut, TranscriptIn
from ivr.followup.scopes import OFFICIAL_CASE
from ivr.followup.triage import Rules, triage
from ivr.http import DB, Routes, require_identity
from ivr.http.inputs import actor_of

TEXT_MAX = 5000
routes = Routes("transcripts")


def check_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidTranscript("the corrected text is required", {"field": "text"})
    if len(text) > TEXT_MAX:
        raise InvalidTranscript(f"the corrected text may have at most {TEXT_MAX} characters",
                                {"field": "text"})
    if CONTROL_CHARS.search(text.replace("\n", " ")):
        raise InvalidTranscript("the corrected text contains a control character",
                                {"field": "text"})
    return text.strip()


async def correct_transcript(db: Db, case_id: int, text: Any, actor: str, rules: Rules,
                             deadlines: Deadlines) -> Case:
    """Store the correction (audited), re-triage on it; bad input writes nothing."""
    text = check_text(text)
    now = utcnow()
    async with db() as session, session.begin():
        case = await load_case(session, case_id, lock=True)
        if case.voicemail_id is None:
            raise NoAudio(f"case {case.id} has no recorded message, hence no transcript "
                          f"({case.kind})", {"kind": case.kind})
        tr = await session.scalar(select(Transcript)
                                  .where(Transcript.voicemail_id == case.voicemail_id))
        if tr is None:   # nothing recognised (e.g. no model): typed in by someone who listened
            vm = await session.get(Voicemail, case.voicemail_id)
            tr = Transcript(voicemail_id=case.voicemail_id, text="", words=[], confidence=0.0,
                            model="", language=vm.language if vm is not None else "zh")
            session.add(tr)
        tr.corrected_text, tr.corrected_by, tr.corrected_at = text, actor[:80], now
        add_event(case, actor, "transcript_corrected", note=text, at=now)
        result = triage(text, tr.language, 1.0, rules)
        before = f"{case.category}/{case.urgency}"
        case.category, case.urgency = result.category, result.urgency
        case.matched_keywords = list(result.matched_keywords)
        case.needs_listening = result.needs_listening
        case.listen_reasons = list(result.listen_reasons)
        case.triaged_at = now
        contact = deadlines.due("contact", case.created_at, case.kind, result.urgency)
        resolve = deadlines.due("resolve", case.created_at, case.kind, result.urgency)
        kept = as_utc(case.deadline) <= contact
        if not kept:
            case.deadline = contact
        if case.resolve_deadline is None or resolve < as_utc(case.resolve_deadline):
            case.resolve_deadline = resolve  # brought forward too; never extended
        add_event(case, actor, "triaged", before, f"{result.category}/{result.urgency}",
                  note=("on the corrected transcript; deadline "
                        + ("kept" if kept else "brought forward")), at=now)
    return case


@routes.put(f"{API_PREFIX}/cases/{{id}}/transcript", roles=["admin", "official"],
            scope=OFFICIAL_CASE, body=TranscriptIn, response=CaseOut, errors=[400, 404])
async def put_transcript(request: web.Request, body: TranscriptIn) -> CaseOut:
    """Correct the transcript of a voicemail case (its official or an admin): the recognised
    text is kept, the correction audited, and the case triaged again on it (a deadline may get
    earlier, never later)."""
    return CaseOut.of(await _correct(request, body.text, actor_of(request, body)))


async def _correct(request: web.Request, text: Any, actor: str) -> Case:
    raw = request.match_info["id"]
    case_id = parse_id(raw)
    if case_id is None:
        raise InvalidInput("case id must be a number", {"id": raw})
    pipeline = request.config_dict[PIPELINE]
    return await correct_transcript(request.config_dict[DB], case_id, text, actor,
                                    pipeline.rules, pipeline.deadlines)


@routes.post("/cases/{id}/transcript", roles=["admin", "official"], scope=OFFICIAL_CASE)
async def post_transcript_form(request: web.Request) -> web.Response:
    """The inbox's correction form (the same correction as the API)."""
    form = await request.post()
    try:
        await _correct(request, form.get("text"), require_identity(request).actor)
    except IvrError as exc:
        return await inbox_with_error(request, exc)
    raise web.HTTPSeeOther(f"/cases#case-{request.match_info['id']}")
