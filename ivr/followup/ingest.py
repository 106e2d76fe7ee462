"""Turn finished calls and recorded files into voicemails, cases and transcription jobs.

Two ways in, both idempotent (keys: the file path, the call, the voicemail), so a message seen
live, replayed from the CEL journal and found by the directory scan is stored once:
- :func:`ingest_call`: a finished citizen call (CallView from the recorder). ``voicemail`` → voicemail +
  case + job; ``missed``/``abandoned`` (citizen calls) → a ``missed`` case.
- :func:`sweep_calls`: finished calls that lack their follow-up (the listener is in memory: a
  controller killed between a record and its case); run at start and with every folder scan.
- :func:`ingest_file`: a file in the recording folder nothing has recorded yet (the controller
  was down while the caller spoke). Asterisk names it ``<linkedid>-o<official id>.wav``; a test
  call's recording (linkedid ``ivrtc-…``, issue 13) is never a message.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.calls.fold import CallView, kind_of
from ivr.calls.recorder import wav_seconds
from ivr.core.config import Config
from ivr.core.constants import MIN_MESSAGE_SECONDS, UNANSWERED_OUTCOMES
from ivr.core.numbers import NumberError, normalize
from ivr.db.followup_models import Case, TranscriptionJob, Voicemail
from ivr.db.models import Call, Official, PublishedNumber
from ivr.db.session import Db
from ivr.followup.cases import new_case
from ivr.followup.deadlines import Deadlines

MISSED_OUTCOMES = frozenset(UNANSWERED_OUTCOMES)
_NAME = re.compile(r"^(?P<linkedid>[A-Za-z0-9._-]{1,64})-o(?P<official>\d{1,9})\.wav$")


@dataclass(frozen=True, slots=True)
class FileName:
    linkedid: str
    official_id: int | None


def parse_filename(name: str) -> FileName | None:
    """``1700000000.12-o7.wav`` → linkedid ``1700000000.12``, official 7 (0: the default route)."""
    m = _NAME.match(name)
    if m is None:
        return None
    oid = int(m.group("official"))
    return FileName(m.group("linkedid"), oid or None)


async def language_for(session: AsyncSession, number_dialed: str, official_id: int | None,
                       default: str) -> str:
    """The published number's language, else its official's, else the deployment default."""
    try:
        e164 = normalize(number_dialed) if number_dialed else None
    except NumberError:
        e164 = None
    if e164:
        row = (await session.execute(
            select(PublishedNumber.language, Official.language)
            .join(Official, Official.id == PublishedNumber.official_id)
            .where(PublishedNumber.number == e164))).first()
        if row is not None:
            return row[0] or row[1] or default
    if official_id:
        lang = await session.scalar(select(Official.language).where(Official.id == official_id))
        if lang:
            return lang
    return default


async def _official_exists(session: AsyncSession, official_id: int | None) -> int | None:
    if not official_id:
        return None
    return await session.scalar(select(Official.id).where(Official.id == official_id))


async def ensure_voicemail(db: Db, config: Config, deadlines: Deadlines, *, path: str,
                           linkedid: str, official_id: int | None, duration: float,
                           received_at: datetime, source: str) -> int | None:
    """Store a message with its case and job. Returns the new job's id (None: already queued)."""
    async with db() as session, session.begin():
        call = await session.scalar(select(Call).where(Call.linkedid == linkedid))
        vm = await session.scalar(select(Voicemail).where(Voicemail.path == path))
        if vm is None:
            number = call.number_dialed if call else ""
            oid = (call.official_id if call else None) or await _official_exists(session, official_id)
            vm = Voicemail(path=path, linkedid=linkedid, call_id=call.id if call else None,
                           official_id=oid, number_dialed=number,
                           caller=call.caller if call else "", duration=duration,
                           language=await language_for(session, number, oid,
                                                       config.routing.default_language),
                           received_at=received_at, source=source)
            session.add(vm)
            await session.flush()
        elif vm.call_id is None and call is not None:  # found by the scan first, the call came later
            vm.call_id, vm.caller, vm.number_dialed = call.id, call.caller, call.number_dialed
            vm.official_id = vm.official_id or call.official_id
            # the dialed number decides the language (the file name only names the official)
            vm.language = await language_for(session, vm.number_dialed, vm.official_id,
                                             config.routing.default_language)
        case = await session.scalar(select(Case).where(Case.voicemail_id == vm.id))
        if case is None and vm.call_id is not None:
            case = await session.scalar(select(Case).where(Case.call_id == vm.call_id))
            if case is not None:  # a missed case whose message appeared later
                case.kind, case.voicemail_id = "voicemail", vm.id
        if case is None:
            session.add(new_case("voicemail", created_at=received_at, deadlines=deadlines,
                                 call_id=vm.call_id, voicemail_id=vm.id,
                                 official_id=vm.official_id, caller=vm.caller,
                                 number_dialed=vm.number_dialed))
        else:
            case.call_id = case.call_id or vm.call_id
            case.caller = case.caller or vm.caller
            case.number_dialed = case.number_dialed or vm.number_dialed
        job = await session.scalar(select(TranscriptionJob)
                                   .where(TranscriptionJob.voicemail_id == vm.id))
        if job is not None:
            return None
        job = TranscriptionJob(voicemail_id=vm.id, status="pending", attempts=0)
        session.add(job)
        await session.flush()
        return job.id


async def ingest_call(db: Db, config: Config, deadlines: Deadlines,
                      view: CallView) -> int | None:
    """A finished call. Returns a new job id when a message was queued."""
    if view.outcome == "voicemail" and view.voicemail_file and view.kind == "citizen":
        secs = await asyncio.to_thread(wav_seconds, config.host_path(view.voicemail_file)) or 0.0
        when = view.ended_at or view.started_at or datetime.now(UTC)
        return await ensure_voicemail(db, config, deadlines, path=view.voicemail_file,
                                      linkedid=view.linkedid, official_id=view.official_id,
                                      duration=secs, received_at=when, source="event")
    if view.outcome in MISSED_OUTCOMES and view.kind == "citizen":
        await _missed_case(db, deadlines, view.linkedid)
    return None


async def _missed_case(db: Db, deadlines: Deadlines, linkedid: str) -> int:
    """Open the call's missed case unless it has a case; 1 when opened."""
    try:
        async with db() as session, session.begin():
            call = await session.scalar(select(Call).where(Call.linkedid == linkedid))
            if call is None or await session.scalar(select(Case.id)
                                                    .where(Case.call_id == call.id)) is not None:
                return 0
            session.add(new_case("missed", created_at=call.ended_at or call.started_at,
                                 deadlines=deadlines, call_id=call.id, official_id=call.official_id,
                                 caller=call.caller, number_dialed=call.number_dialed))
    except IntegrityError:
        return 0  # opened meanwhile by another pass (cases.call_id is unique)
    return 1


async def sweep_calls(db: Db, config: Config, deadlines: Deadlines,
                      limit: int = 200) -> tuple[int, int]:
    """The idempotent sweep: this node's finished calls that lack their follow-up get it — a
    ``missed``/``abandoned`` citizen call its missed case, a ``voicemail`` call its message,
    case and job (the listener that does it at once is in memory: a controller killed between
    the record and the case leaves it undone). Other kinds and outcomes need none. Safe to run
    beside the listener: each insert re-checks in its own transaction and ``cases.call_id`` is
    unique. Returns (cases opened, messages queued); at most ``limit`` calls each pass."""
    mine = Call.node == config.node.name
    async with db() as session:
        missed = (await session.scalars(
            select(Call.linkedid).where(
                mine, Call.kind == "citizen", Call.outcome.in_(sorted(MISSED_OUTCOMES)),
                ~select(Case.id).where(Case.call_id == Call.id).exists())
            .order_by(Call.id).limit(limit))).all()
        voicemail = (await session.execute(
            select(Call.linkedid, Call.voicemail_file, Call.official_id, Call.ended_at,
                   Call.started_at).where(
                mine, Call.kind == "citizen", Call.outcome == "voicemail",
                Call.voicemail_file.is_not(None),
                ~select(Voicemail.id).where(Voicemail.call_id == Call.id).exists())
            .order_by(Call.id).limit(limit))).all()
    opened = 0
    for linkedid in missed:
        opened += await _missed_case(db, deadlines, linkedid)
    queued = 0
    for linkedid, path, official_id, ended_at, started_at in voicemail:
        if not path:
            continue
        secs = await asyncio.to_thread(wav_seconds, config.host_path(path)) or 0.0
        job = await ensure_voicemail(db, config, deadlines, path=path, linkedid=linkedid,
                                     official_id=official_id, duration=secs,
                                     received_at=ended_at or started_at or datetime.now(UTC),
                                     source="sweep")
        queued += job is not None
    return opened, queued


def inside_path(config: Config, name: str) -> str:
    return f"{config.voicemail_dir_inside.rstrip('/')}/{name}"


def unrecorded_files(config: Config, known: set[str], settle_seconds: float = 3.0,
                     now: float | None = None) -> list[tuple[str, FileName, float, datetime]]:
    """Finished recordings (not modified for ``settle_seconds``) whose path is not in ``known``:
    ``(inside path, parsed name, seconds, mtime)``. Blocking I/O: run it in a thread."""
    directory = config.voicemail_dir
    found = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    now = now if now is not None else datetime.now(UTC).timestamp()
    for entry in sorted(entries, key=lambda e: e.name):
        parsed = parse_filename(entry.name)
        path = inside_path(config, entry.name)
        if parsed is None or path in known or not entry.is_file():
            continue
        if kind_of(parsed.linkedid) != "citizen":  # a test call's: never a citizen's message
            continue
        mtime = entry.stat().st_mtime
        if now - mtime < settle_seconds:
            continue  # still being recorded: the next scan takes it
        secs = wav_seconds(Path(entry.path))
        if secs is None or secs < MIN_MESSAGE_SECONDS:
            continue  # no message (the call itself is followed up as a missed case)
        found.append((path, parsed, secs, datetime.fromtimestamp(mtime, UTC)))
    return found


async def known_paths(db: Db) -> set[str]:
    async with db() as session:
        return set((await session.scalars(select(Voicemail.path))).all())
