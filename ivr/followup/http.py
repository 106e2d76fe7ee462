"""REST routes of the follow-up workflow: cases, their audio, status, assignee, callbacks and
transcription retries. Officials see and act on their own officials' cases only (scopes)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from ivr.accounts import security
from ivr.core.constants import API_PREFIX
from ivr.core.errors import InvalidInput, NoAudio
from ivr.core.ids import parse_id
from ivr.db.followup_models import Transcript, TranscriptionJob, Voicemail
from ivr.db.session import snapshot
from ivr.followup import cases as case_service
from ivr.followup import jobs
from ivr.followup.autocallback import dispose
from ivr.followup.callback import place_callback
from ivr.followup.callback_guard import approve
from ivr.followup.keys import AMI, PIPELINE
from ivr.followup.schemas import (
    AssigneeIn,
    AudioQuery,
    CallbackApprovalIn,
    CallbackIn,
    CallbackOut,
    CaseDetail,
    CaseEventOut,
    CaseList,
    CaseOut,
    CaseQuery,
    DispositionIn,
    Queued,
    StatusIn,
    TranscriptionOut,
    TranscriptOut,
    VoicemailOut,
)
from ivr.followup.scopes import OFFICIAL_CASE
from ivr.http import CONFIG, DB, Routes, identity_of, require_identity
from ivr.http.inputs import actor_of
from ivr.http.scopes import OFFICIAL_QUERY
from ivr.http.transport import client_address

routes = Routes("cases")
CASES = f"{API_PREFIX}/cases"
_A, _O, _F, _S = "admin", "operator", "official", "supervisor"


def _case_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    case_id = parse_id(raw)
    if case_id is None:
        raise InvalidInput("case id must be a number", {"id": raw})
    return case_id


@routes.get(CASES, roles=[_A, _S, _O, _F], scope=OFFICIAL_QUERY, query=CaseQuery,
            response=CaseList)
async def list_cases(request: web.Request, query: CaseQuery) -> CaseList:
    """Cases (every unanswered call, and those opened from a call), by deadline."""
    f = case_service.CaseFilter(official=query.official, category=query.category,
                                urgency=query.urgency, status=query.status, kind=query.kind,
                                overdue=query.overdue, escalated=query.escalated,
                                limit=query.limit, offset=query.offset)
    items = await case_service.list_cases(request.config_dict[DB], f)
    return CaseList(items=[CaseOut.of(c) for c in items])


@routes.get(f"{CASES}/{{id}}", roles=[_A, _S, _O, _F], scope=OFFICIAL_CASE, response=CaseDetail,
            errors=[400])
async def get_case(request: web.Request) -> CaseDetail:
    """One case with its history, callbacks and, for a voicemail, its transcript."""
    async with snapshot(request.config_dict[DB]) as session:  # the case and its job agree
        case = await case_service.load_case(session, _case_id(request))
        voicemail = transcript = transcription = None
        if case.voicemail_id is not None:
            vm = await session.get(Voicemail, case.voicemail_id)
            tr = await session.scalar(select(Transcript)
                                      .where(Transcript.voicemail_id == case.voicemail_id))
            job = await session.scalar(select(TranscriptionJob)
                                       .where(TranscriptionJob.voicemail_id == case.voicemail_id))
            voicemail = VoicemailOut.of(vm, case.id) if vm is not None else None
            transcript = TranscriptOut.of(tr) if tr is not None else None
            transcription = TranscriptionOut.of(job) if job is not None else None
        return CaseDetail.model_validate({
            **CaseOut.fields_of(case), "history": [CaseEventOut.of(e) for e in case.events],
            "voicemail": voicemail, "transcript": transcript, "transcription": transcription})


@routes.get(f"{CASES}/{{id}}/audio", roles=[_A, _S, _O, _F], scope=OFFICIAL_CASE,
            query=AudioQuery, errors=[400])
async def get_audio(request: web.Request, query: AudioQuery) -> web.StreamResponse:
    """The recorded message (audio/wav). Who listened to or downloaded it is logged (the access
    log, admins): a citizen's voice is personal information."""
    config = request.config_dict[CONFIG]
    async with request.config_dict[DB]() as session:
        case = await case_service.load_case(session, _case_id(request))
        vm = await session.get(Voicemail, case.voicemail_id) if case.voicemail_id else None
    if vm is None:
        raise NoAudio(f"case {case.id} has no recorded message ({case.kind})", {"kind": case.kind})
    path = config.host_path(vm.path)
    if not path.is_file():
        raise NoAudio(f"the recording of case {case.id} is missing on disk", {"path": vm.path})
    headers = {"Content-Type": "audio/wav"}
    if query.download:
        headers["Content-Disposition"] = f'attachment; filename="case-{case.id}.wav"'
    # a player fetches a message in ranges: one entry per listen, at its first byte
    if query.download or request.headers.get("Range", "bytes=0-").startswith("bytes=0-"):
        await security.log_access(request.config_dict[DB],
                                  "audio-downloaded" if query.download else "audio-listened",
                                  require_identity(request).actor, client_address(request),
                                  f"case {case.id}", vm.path)
    return web.FileResponse(path, headers=headers)


@routes.put(f"{CASES}/{{id}}/status", roles=[_A, _O, _F], scope=OFFICIAL_CASE, body=StatusIn,
            response=CaseOut, errors=[409])
async def put_status(request: web.Request, body: StatusIn) -> CaseOut:
    """Change the status (new → assigned → called_back → resolved); 409 when not allowed."""
    case = await case_service.change_status(request.config_dict[DB], _case_id(request),
                                            body.status, actor_of(request, body), body.note)
    return CaseOut.of(case)


@routes.put(f"{CASES}/{{id}}/assignee", roles=[_A, _O, _S], body=AssigneeIn, response=CaseOut,
            errors=[409])
async def put_assignee(request: web.Request, body: AssigneeIn) -> CaseOut:
    """Assign the case to someone (status becomes assigned)."""
    case = await case_service.assign(request.config_dict[DB], _case_id(request),
                                     body.assigned_to, actor_of(request, body))
    return CaseOut.of(case)


@routes.post(f"{CASES}/{{id}}/callback", roles=[_O, _F], scope=OFFICIAL_CASE,
             body=CallbackIn, response=CallbackOut, status=201, errors=[400, 403, 409, 429, 503])
async def post_callback(request: web.Request, body: CallbackIn) -> CallbackOut:
    """Call the citizen back: ring your own phone first, then the citizen through the carrier,
    presenting the published number they dialled (national numbers only unless allow-listed,
    limited in time and number; admins and supervisors assign the case instead)."""
    config = request.config_dict[CONFIG]
    cb = await place_callback(request.config_dict[DB], request.config_dict.get(AMI),
                              _case_id(request), body.endpoint, actor_of(request, body),
                              who=identity_of(request), outbound=config.outbound,
                              node=config.node.name)
    return CallbackOut.of(cb)


@routes.post(f"{CASES}/{{id}}/disposition", roles=[_A, _O, _F], scope=OFFICIAL_CASE,
             body=DispositionIn, response=CaseOut, errors=[400, 409])
async def post_disposition(request: web.Request, body: DispositionIn) -> CaseOut:
    """Say how the callback went (reached, left a message, wrong number, unreachable): closes
    the callback duty and cancels the automatic attempts still to come."""
    case = await dispose(request.config_dict[DB], _case_id(request), body.outcome,
                         actor_of(request, body), body.note)
    return CaseOut.of(case)


@routes.post(f"{CASES}/{{id}}/callback-approval", roles=[_A], body=CallbackApprovalIn,
             response=CaseOut, errors=[400])
async def post_callback_approval(request: web.Request, body: CallbackApprovalIn) -> CaseOut:
    """Allow calling back a caller ID that was altered on the way in (audited)."""
    case = await approve(request.config_dict[DB], _case_id(request), actor_of(request, body),
                         body.reason)
    return CaseOut.of(case)


@routes.post(f"{CASES}/{{id}}/transcription", roles=[_A], response=Queued, errors=[400])
async def post_transcription(request: web.Request) -> Queued:
    """Run a failed transcription again (e.g. after installing the missing model)."""
    db = request.config_dict[DB]
    async with db() as session:
        case = await case_service.load_case(session, _case_id(request))
    if case.voicemail_id is None:
        raise NoAudio(f"case {case.id} has no recorded message", {"kind": case.kind})
    queued = await jobs.retry_failed(db, case.voicemail_id)
    pipeline = request.config_dict.get(PIPELINE)
    if queued and pipeline is not None:
        pipeline.wake()
    return Queued(queued=queued)
