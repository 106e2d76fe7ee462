"""REST routes of the follow-up workflow: cases, their audio, status, assignee, callbacks, and
officials' greetings. Documented through ``register_paths`` (tests/unit/test_api.py)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from sqlalchemy import select

from ivr.directory import services as directory
from ivr.core.errors import InvalidInput
from ivr.followup import cases as case_service
from ivr.followup import jobs
from ivr.followup.callback import callback_json, place_callback
from ivr.db.followup_models import (CASE_KINDS, CASE_STATES, URGENCIES, Case, Transcript,
                              TranscriptionJob, Voicemail)
from ivr.core.errors import NoAudio
from ivr.http.inputs import (actor_of as _actor, int_query as _int_param,
                             read_json_object as _body, require_field as _field)
from ivr.web.keys import CONFIG, CONTROLLER, DB_SESSIONMAKER
from ivr.web.compat import PREFIX, register_paths
from ivr.followup.uploads import store_prompt

# the running VoicemailPipeline (set by ivr.app), to wake the workers after a retry
PIPELINE = web.AppKey("voicemail_pipeline", object)
_LANG = re.compile(r"^[a-z]{2,3}$")


def _t(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def case_json(c: Case, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(timezone.utc)
    return {
        "id": c.id, "kind": c.kind, "status": c.status, "call_id": c.call_id,
        "voicemail_id": c.voicemail_id, "official_id": c.official_id, "caller": c.caller,
        "number_dialed": c.number_dialed, "category": c.category,
        "matched_keywords": list(c.matched_keywords or []), "urgency": c.urgency,
        "needs_listening": c.needs_listening, "listen_reasons": list(c.listen_reasons or []),
        "repeat_caller": c.repeat_caller, "assigned_to": c.assigned_to,
        "created_at": _t(c.created_at), "updated_at": _t(c.updated_at),
        "triaged_at": _t(c.triaged_at), "deadline": _t(c.deadline),
        "overdue": case_service.is_overdue(c.status, c.deadline, now),
        "callbacks": [callback_json(cb) for cb in c.callbacks],
        "summary": c.summary or "", "linkedid": c.linkedid,
    }


def _case_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 12:
        raise InvalidInput("case id must be a number", {"id": raw})
    return int(raw)


def _bool_param(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise InvalidInput(f"query parameter {name} must be true or false", {name: raw})


async def list_cases(request: web.Request) -> web.Response:
    q = request.query
    f = case_service.CaseFilter(
        official=q.get("official") or None, category=q.get("category") or None,
        urgency=q.get("urgency") or None, status=q.get("status") or None,
        kind=q.get("kind") or None, overdue=_bool_param(request, "overdue"),
        limit=_int_param(request, "limit", 100), offset=_int_param(request, "offset", 0))
    items = await case_service.list_cases(request.config_dict[DB_SESSIONMAKER], f)
    return web.json_response({"items": [case_json(c) for c in items]})


async def get_case(request: web.Request) -> web.Response:
    db = request.config_dict[DB_SESSIONMAKER]
    async with db() as session:
        case = await case_service.load_case(session, _case_id(request))
        out = case_json(case)
        out["history"] = [{"at": _t(e.at), "actor": e.actor, "action": e.action,
                           "old_value": e.old_value, "new_value": e.new_value, "note": e.note}
                          for e in case.events]
        out["voicemail"] = out["transcript"] = out["transcription"] = None
        if case.voicemail_id is not None:
            vm = await session.get(Voicemail, case.voicemail_id)
            tr = await session.scalar(select(Transcript).where(Transcript.voicemail_id == case.voicemail_id))
            job = await session.scalar(select(TranscriptionJob)
                                       .where(TranscriptionJob.voicemail_id == case.voicemail_id))
            if vm is not None:
                out["voicemail"] = {"id": vm.id, "path": vm.path, "linkedid": vm.linkedid,
                                    "duration": vm.duration, "language": vm.language,
                                    "received_at": _t(vm.received_at), "source": vm.source,
                                    "audio_url": f"{PREFIX}/cases/{case.id}/audio"}
            if tr is not None:
                out["transcript"] = {"text": tr.text, "words": tr.words, "confidence": tr.confidence,
                                     "model": tr.model, "language": tr.language,
                                     "duration": tr.duration, "rtf": tr.rtf,
                                     "created_at": _t(tr.created_at)}
            if job is not None:
                out["transcription"] = {"status": job.status, "attempts": job.attempts,
                                        "last_error": job.last_error,
                                        "started_at": _t(job.started_at),
                                        "finished_at": _t(job.finished_at)}
    return web.json_response(out)


async def get_audio(request: web.Request) -> web.StreamResponse:
    db, config = request.config_dict[DB_SESSIONMAKER], request.config_dict[CONFIG]
    async with db() as session:
        case = await case_service.load_case(session, _case_id(request))
        vm = await session.get(Voicemail, case.voicemail_id) if case.voicemail_id else None
    if vm is None:
        raise NoAudio(f"case {case.id} has no recorded message ({case.kind})", {"kind": case.kind})
    path = config.host_path(vm.path)
    if not path.is_file():
        raise NoAudio(f"the recording of case {case.id} is missing on disk", {"path": vm.path})
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


async def put_status(request: web.Request) -> web.Response:
    body = await _body(request)
    status, note = _field(body, "status"), body.get("note", "")
    if not isinstance(status, str) or not isinstance(note, str):
        raise InvalidInput("status and note must be text")
    db = request.config_dict[DB_SESSIONMAKER]
    case = await case_service.change_status(db, _case_id(request), status, _actor(request, body), note)
    return web.json_response(case_json(case))


async def put_assignee(request: web.Request) -> web.Response:
    body = await _body(request)
    db = request.config_dict[DB_SESSIONMAKER]
    case = await case_service.assign(db, _case_id(request), _field(body, "assigned_to"),
                                     _actor(request, body))
    return web.json_response(case_json(case))


async def post_callback(request: web.Request) -> web.Response:
    body = await _body(request)
    ctrl = request.config_dict.get(CONTROLLER)
    cb = await place_callback(request.config_dict[DB_SESSIONMAKER], getattr(ctrl, "ami", None),
                              _case_id(request), _field(body, "endpoint"), _actor(request, body))
    return web.json_response(callback_json(cb), status=201)


async def post_transcription(request: web.Request) -> web.Response:
    """Run a failed transcription again (e.g. after installing the missing model)."""
    db = request.config_dict[DB_SESSIONMAKER]
    async with db() as session:
        case = await case_service.load_case(session, _case_id(request))
    if case.voicemail_id is None:
        raise NoAudio(f"case {case.id} has no recorded message", {"kind": case.kind})
    queued = await jobs.retry_failed(db, case.voicemail_id)
    pipeline = request.config_dict.get(PIPELINE)
    if queued and pipeline is not None:
        pipeline._wake.set()  # type: ignore[attr-defined]
    return web.json_response({"queued": queued})


async def put_greeting(request: web.Request) -> web.Response:
    """An official's own greeting (WAV body): validated, converted to 8 kHz 16-bit mono."""
    db, config = request.config_dict[DB_SESSIONMAKER], request.config_dict[CONFIG]
    official = await directory.get_official(db, request.match_info["slug"])
    language = request.query.get("language") or official.language
    if not _LANG.match(language):
        raise InvalidInput("language must be a 2-3 letter code", {"language": language})
    name = f"ivr-greeting-{official.id}.wav"
    path = config.host_path(config.prompts_dir_inside) / language / name
    wav = await store_prompt(request, [path], "unusable greeting")
    seconds = (len(wav) - 44) / 16000
    return web.json_response({"official_id": official.id, "language": language,
                              "prompt": f"{language}/{name}", "seconds": round(seconds, 3)})


def setup_cases_api(app: web.Application) -> None:
    r = app.router
    r.add_get(f"{PREFIX}/cases", list_cases)
    r.add_get(f"{PREFIX}/cases/{{id}}", get_case)
    r.add_get(f"{PREFIX}/cases/{{id}}/audio", get_audio)
    r.add_put(f"{PREFIX}/cases/{{id}}/status", put_status)
    r.add_put(f"{PREFIX}/cases/{{id}}/assignee", put_assignee)
    r.add_post(f"{PREFIX}/cases/{{id}}/callback", post_callback)
    r.add_post(f"{PREFIX}/cases/{{id}}/transcription", post_transcription)
    r.add_put(f"{PREFIX}/officials/{{slug}}/greeting", put_greeting)


# ---------------------------------------------------------------- OpenAPI
_S: dict[str, Any] = {"type": "string"}
_NS: dict[str, Any] = {"type": ["string", "null"]}
_T: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
_NI: dict[str, Any] = {"type": ["integer", "null"]}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _op(summary: str, ok: dict[str, Any] | None, *codes: int, body: dict[str, Any] | None = None,
        status: int = 200, params: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    text = {400: "invalid input", 401: "missing or wrong bearer token", 404: "not found",
            409: "conflict (invalid transition)", 503: "Asterisk unavailable"}
    responses: dict[str, Any] = {str(status): {"description": "OK", **(_json(ok) if ok else {})}}
    for c in (401, *codes):
        responses[str(c)] = {"description": text[c], **_json(_ref("Error"))}
    op: dict[str, Any] = {"summary": summary, "responses": responses,
                          "parameters": [{"name": "id", "in": "path", "required": True,
                                          "schema": _S, "description": "case id"}]}
    if params is not None:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    op.update(extra)
    return op


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def _q(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_ACTOR = {"type": "string", "maxLength": 80, "description": "who (default: api)"}
SCHEMAS = {
    "Callback": _obj(["id", "case_id", "state"], id={"type": "integer"}, case_id={"type": "integer"},
                     placed_by=_S, endpoint=_S, number=_S, linkedid=_S,
                     state={"enum": ["originating", "dialing", "answered", "ended", "failed"]},
                     result=_NS, created_at=_T, answered_at=_T, ended_at=_T),
    "Case": _obj(["id", "kind", "status", "urgency", "deadline"], id={"type": "integer"},
                 kind={"enum": list(CASE_KINDS)}, status={"enum": list(CASE_STATES)},
                 call_id=_NI, voicemail_id=_NI, official_id=_NI, caller=_S, number_dialed=_S,
                 category=_NS, matched_keywords={"type": "array", "items": _S},
                 urgency={"enum": list(URGENCIES)}, needs_listening={"type": "boolean"},
                 listen_reasons={"type": "array", "items": _S}, repeat_caller={"type": "boolean"},
                 assigned_to=_NS, created_at=_T, updated_at=_T, triaged_at=_T, deadline=_T,
                 overdue={"type": "boolean"},
                 summary={"type": "string", "description": "kind call: the operator's summary"},
                 linkedid={"type": ["string", "null"], "description": "kind call: the call's linkedid"},
                 callbacks={"type": "array", "items": _ref("Callback")},
                 history={"type": "array", "items": {"type": "object"},
                          "description": "only in GET /cases/{id}"},
                 voicemail={"type": ["object", "null"]}, transcript={"type": ["object", "null"]},
                 transcription={"type": ["object", "null"]}),
}
PATHS = {
    "/cases": {"get": _op("Cases (every unanswered call), by deadline", _obj(
        ["items"], items={"type": "array", "items": _ref("Case")}), 400, params=[
        _q("official", _S, "slug or id"), _q("category", _S, "triage category"),
        _q("urgency", {"enum": list(URGENCIES)}, "urgency"),
        _q("status", {"enum": list(CASE_STATES)}, "status"),
        _q("kind", {"enum": list(CASE_KINDS)}, "voicemail, missed or call"),
        _q("overdue", {"type": "boolean"}, "deadline passed and not called back"),
        _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size"),
        _q("offset", {"type": "integer", "minimum": 0}, "skip this many")])},
    "/cases/{id}": {"get": _op("One case with its transcript, history and callbacks",
                               _ref("Case"), 400, 404)},
    "/cases/{id}/audio": {"get": _op("The recorded message (audio/wav)", None, 400, 404)},
    "/cases/{id}/status": {"put": _op(
        "Change the status (new → assigned → called_back → resolved); 409 when not allowed",
        _ref("Case"), 400, 404, 409, body=_obj(["status"], status={"enum": list(CASE_STATES)},
                                               note=_S, actor=_ACTOR))},
    "/cases/{id}/assignee": {"put": _op("Assign the case to someone (status becomes assigned)",
                                        _ref("Case"), 400, 404, 409,
                                        body=_obj(["assigned_to"], assigned_to=_S, actor=_ACTOR))},
    "/cases/{id}/callback": {"post": _op(
        "Call the citizen back: ring this phone first, then the citizen through the carrier",
        _ref("Callback"), 400, 404, 409, 503, status=201,
        body=_obj(["endpoint"], endpoint={"type": "string", "description": "operator or official phone"},
                  actor=_ACTOR))},
    "/cases/{id}/transcription": {"post": _op("Run a failed transcription again",
                                              _obj(["queued"], queued={"type": "boolean"}), 400, 404)},
    "/officials/{slug}/greeting": {"put": _op(
        "Upload the official's voicemail greeting (WAV; validated, converted to 8 kHz mono)",
        _obj(["official_id", "language", "prompt"], official_id={"type": "integer"}, language=_S,
             prompt=_S, seconds={"type": "number"}), 400, 404,
        params=[{"name": "slug", "in": "path", "required": True, "schema": _S,
                 "description": "official's slug or id"},
                _q("language", _S, "prompt language (default: the official's)")],
        requestBody={"required": True, "content": {"audio/wav": {"schema": {
            "type": "string", "format": "binary"}}}})},
}
PATHS["/cases/{id}/audio"]["get"]["responses"]["200"]["content"] = {
    "audio/wav": {"schema": {"type": "string", "format": "binary"}}}
register_paths(PATHS, SCHEMAS)
