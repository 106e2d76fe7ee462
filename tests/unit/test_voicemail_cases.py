"""Voicemail follow-up, pure parts and the database queue: case state machine, deadlines,
callback numbers, recording file names, job claim/retry/recovery, ingest idempotency, and the
pipeline's job handling with a stand-in transcriber (the real engine runs in tests/e2e)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ivr.calls.fold import CallView
from ivr.core.config import Config
from ivr.core.errors import InvalidCaseInput, InvalidTransition, UnknownCase
from ivr.db.followup_models import Case, Transcript, TranscriptionJob, Voicemail
from ivr.db.models import Call
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade_async
from ivr.followup import cases, ingest, jobs
from ivr.followup.ingest import FileName, ensure_voicemail, ingest_call, parse_filename, unrecorded_files
from ivr.followup.pipeline import VoicemailPipeline
from ivr.speech.audio import Audio, write_wav
from ivr.speech.models import ModelMissing
from ivr.speech.transcribe import Transcript as TResult
from ivr.speech.transcribe import Word, WorkerCrashed
from tests.unit.deadline_helpers import round_the_clock

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
HOURS = round_the_clock()


# ---------------------------------------------------------------- pure

@pytest.mark.parametrize("old,new", [("new", "assigned"), ("new", "called_back"),
                                     ("assigned", "called_back"), ("called_back", "resolved"),
                                     ("called_back", "assigned")])
def test_allowed_transitions(old: str, new: str) -> None:
    case = cases.new_case("missed", created_at=T0, deadlines=HOURS)
    case.status = old
    cases.set_status(case, new, "tester", "note")
    assert case.status == new
    event = case.events[-1]
    assert (event.actor, event.action, event.old_value, event.new_value, event.note) == (
        "tester", "status", old, new, "note")


@pytest.mark.parametrize("old,new", [("new", "resolved"), ("new", "new"), ("assigned", "new"),
                                     ("assigned", "resolved"), ("resolved", "new"),
                                     ("resolved", "assigned"), ("called_back", "new")])
def test_refused_transitions(old: str, new: str) -> None:
    with pytest.raises(InvalidTransition) as info:
        cases.check_transition(old, new)
    assert info.value.status == 409 and old in info.value.message and new in info.value.message
    case = cases.new_case("missed", created_at=T0, deadlines=HOURS)
    case.status = old
    with pytest.raises(InvalidTransition):
        cases.set_status(case, new, "tester")
    assert case.status == old and [e.action for e in case.events] == ["created"]  # unchanged


def test_unknown_status_is_bad_input() -> None:
    with pytest.raises(InvalidCaseInput):
        cases.check_transition("new", "closed")


def test_deadlines() -> None:
    case = cases.new_case("missed", created_at=T0, deadlines=HOURS)
    assert (case.deadline, case.resolve_deadline) == (T0 + timedelta(hours=24), T0 + timedelta(days=3))
    case.urgency = "urgent"
    assert HOURS.apply(case) and case.deadline == T0 + timedelta(hours=2)
    assert not HOURS.apply(case)  # unchanged


def test_overdue_only_while_nobody_called_back() -> None:
    late = T0 + timedelta(hours=3)
    assert cases.is_overdue("new", T0, late) and cases.is_overdue("assigned", T0, late)
    assert not cases.is_overdue("called_back", T0, late)
    assert not cases.is_overdue("resolved", T0, late)
    assert not cases.is_overdue("new", late, T0)


@pytest.mark.parametrize("raw,number", [("13912345678", "13912345678"),
                                        ("+86 139-1234-5678", "+8613912345678"),
                                        ("0558;5551001&x", "05585551001"), ("", None),
                                        ("anonymous", None), ("12", None), ("1" * 25, None)])
def test_callback_number_digits_and_plus_only(raw: str, number: str | None) -> None:
    assert cases.callback_number(raw) == number


def test_recording_file_names() -> None:
    assert parse_filename("1763800000.42-o7.wav") == FileName("1763800000.42", 7)
    assert parse_filename("1763800000.42-o0.wav") == FileName("1763800000.42", None)
    for bad in ("1763800000.42-o7.wav.tmp", "x-o.wav", "../x-o1.wav", "a b-o1.wav", "a-oX.wav"):
        assert parse_filename(bad) is None


# ---------------------------------------------------------------- database

@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    await upgrade_async(db_url)
    engine = create_engine(Config.build(database={"url": db_url}))
    yield make_sessionmaker(engine)
    await engine.dispose()


def _config(tmp_path: Path) -> Config:
    return Config.build(asterisk={"root": str(tmp_path), "instance": "/inst"})


async def _message(db: Db, config: Config, name: str = "1763800000.1-o0.wav") -> int | None:
    return await ensure_voicemail(db, config, HOURS, path=f"/inst/spool/ivr-voicemail/{name}",
                                  linkedid=name.split("-o")[0], official_id=None, duration=3.0,
                                  received_at=T0, source="scan")


async def test_ingest_is_idempotent_and_links_the_call_later(db: Db, tmp_path: Path) -> None:
    config = _config(tmp_path)
    job = await _message(db, config)
    assert job is not None and await _message(db, config) is None  # the scan ran again
    async with db() as s, s.begin():
        s.add(Call(linkedid="1763800000.1", number_dialed="05585551001", caller="13912345678",
                   started_at=T0, outcome="voicemail",
                   voicemail_file="/inst/spool/ivr-voicemail/1763800000.1-o0.wav"))
    view = CallView("1763800000.1", outcome="voicemail", ended_at=T0,
                    voicemail_file="/inst/spool/ivr-voicemail/1763800000.1-o0.wav")
    assert await ingest_call(db, config, HOURS, view) is None  # the call came after the scan
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Voicemail)) == 1
        assert await s.scalar(select(func.count()).select_from(TranscriptionJob)) == 1
        case = (await s.scalars(select(Case))).one()
        assert (case.kind, case.caller, case.status) == ("voicemail", "13912345678", "new")
        assert case.call_id is not None


async def test_missed_call_becomes_one_case(db: Db, tmp_path: Path) -> None:
    config = _config(tmp_path)
    async with db() as s, s.begin():
        s.add(Call(linkedid="L2", caller="13700000001", started_at=T0, ended_at=T0,
                   outcome="missed"))
    view = CallView("L2", outcome="missed", ended_at=T0)
    for _ in range(2):
        await ingest_call(db, config, HOURS, view)
    found = await cases.list_cases(db, cases.CaseFilter(kind="missed"), now=T0)
    assert [(c.kind, c.caller, c.deadline.replace(tzinfo=UTC)) for c in found] == [
        ("missed", "13700000001", T0 + timedelta(hours=24))]
    overdue = await cases.list_cases(db, cases.CaseFilter(overdue=True), now=T0 + timedelta(days=2))
    assert [c.id for c in overdue] == [found[0].id]


async def test_status_changes_keep_history_and_refuse_bad_moves(db: Db, tmp_path: Path) -> None:
    await _message(db, _config(tmp_path))
    case_id = (await cases.list_cases(db, cases.CaseFilter()))[0].id
    with pytest.raises(InvalidTransition):
        await cases.change_status(db, case_id, "resolved", "alice")
    with pytest.raises(UnknownCase):
        await cases.change_status(db, 999, "assigned", "alice")
    await cases.assign(db, case_id, "王芳", "alice")
    await cases.change_status(db, case_id, "called_back", "wang")
    await cases.change_status(db, case_id, "resolved", "wang", "fixed")
    async with db() as s:
        case = await cases.load_case(s, case_id)
    assert case.status == "resolved" and case.assigned_to == "王芳"
    assert [(e.actor, e.action, e.old_value, e.new_value) for e in case.events] == [
        ("system", "created", None, "new"), ("alice", "status", "new", "assigned"),
        ("alice", "assigned", None, "王芳"), ("wang", "status", "assigned", "called_back"),
        ("wang", "status", "called_back", "resolved")]


async def test_claim_retry_fail_and_recover(db: Db, tmp_path: Path) -> None:
    config = _config(tmp_path)
    ids = [await _message(db, config, f"17638000{i}.1-o0.wav") for i in range(3)]
    claimed = await asyncio.gather(*(jobs.claim_next(db) for _ in range(3)))
    assert sorted(j.id for j in claimed if j) == sorted(ids)  # no job claimed twice
    assert await jobs.claim_next(db) is None
    a, b, c = sorted(claimed, key=lambda j: j.id)  # type: ignore[arg-type]
    assert await jobs.fail(db, a.id, "worker died", retriable=True, max_attempts=2) == "pending"
    again = await jobs.claim_next(db)
    assert again is not None and again.id == a.id and again.attempts == 2
    assert await jobs.fail(db, a.id, "worker died", retriable=True, max_attempts=2) == "failed"
    assert await jobs.fail(db, b.id, "ModelMissing: no zh", retriable=False) == "failed"
    # c stays running: the controller was killed. recover() puts it back, none stays running.
    assert await jobs.recover(db) == 1
    async with db() as s:
        rows = {j.id: j for j in (await s.scalars(select(TranscriptionJob))).all()}
    assert rows[c.id].status == "pending" and "interrupted" in (rows[c.id].last_error or "")
    assert rows[a.id].last_error.startswith("gave up after 2 attempts")  # type: ignore[union-attr]
    assert rows[b.id].status == "failed" and rows[b.id].last_error == "ModelMissing: no zh"
    assert await jobs.retry_failed(db, rows[b.id].voicemail_id)


async def test_recovery_gives_up_on_a_message_that_keeps_crashing(db: Db, tmp_path: Path) -> None:
    await _message(db, _config(tmp_path))
    for _ in range(3):
        assert await jobs.claim_next(db) is not None
        await jobs.recover(db, max_attempts=3)
    async with db() as s:
        job = (await s.scalars(select(TranscriptionJob))).one()
        case = await cases.load_case(s, (await s.scalars(select(Case.id))).one())
    assert job.status == "failed" and "3 interrupted" in (job.last_error or "")
    # given up: someone must listen, and the case says why (once, not at every start)
    assert case.needs_listening
    assert case.listen_reasons == ["no transcript: gave up after 3 interrupted attempts"]
    assert [e.action for e in case.events].count("transcription_failed") == 1
    assert await jobs.recover(db, max_attempts=3) == 0


def test_scan_skips_files_still_recording_and_empty_ones(tmp_path: Path) -> None:
    config = _config(tmp_path)
    d = config.voicemail_dir
    d.mkdir(parents=True)
    write_wav(Audio(__import__("numpy").zeros(8000 * 2, dtype="int16"), 8000), d / "A.1-o3.wav")
    write_wav(Audio(__import__("numpy").zeros(100, dtype="int16"), 8000), d / "B.1-o3.wav")
    (d / "notes.txt").write_text("x")
    now = (d / "A.1-o3.wav").stat().st_mtime
    assert unrecorded_files(config, set(), now=now) == []  # just written: may still be recording
    found = unrecorded_files(config, set(), now=now + 10)
    assert [(p, n.linkedid, n.official_id, round(s, 1)) for p, n, s, _ in found] == [
        ("/inst/spool/ivr-voicemail/A.1-o3.wav", "A.1", 3, 2.0)]
    assert unrecorded_files(config, {found[0][0]}, now=now + 10) == []


class FakeTranscriber:
    """Stands in for the Vosk pool: a scripted series of outcomes."""

    def __init__(self, outcomes: list[Any]) -> None:
        model = type("Model", (), {"name": "fake"})()
        self.outcomes, self.models, self.workers = outcomes, {"ko": model, "zh": model}, 1

    async def start(self) -> None:
        return None

    async def transcribe(self, path: Any, language: str) -> TResult:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return TResult(outcome, (Word(outcome, 0.0, 1.0, 0.9),), 0.9, 3.0, 0.2, "fake", language)

    async def close(self) -> None:
        return None


async def test_pipeline_retries_a_crash_then_triages(db: Db, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ivr.followup.pipeline.resolve", lambda lang: None)
    fake = FakeTranscriber([WorkerCrashed("boom"), "紧急 小区 漏水 物业 不管"])
    p = VoicemailPipeline(_config(tmp_path), db, transcriber_factory=lambda langs, n: fake)  # type: ignore[arg-type,return-value]
    p.deadlines = HOURS
    await _message(db, p.config)
    for _ in range(2):
        job = await jobs.claim_next(db)
        assert job is not None
        await p.process(job)
    async with db() as s:
        case = (await s.scalars(select(Case))).one()
        tr = (await s.scalars(select(Transcript))).one()
        job_row = (await s.scalars(select(TranscriptionJob))).one()
    assert (job_row.status, job_row.attempts) == ("done", 2)
    assert (case.category, case.urgency) == ("housing", "urgent")
    assert case.deadline.replace(tzinfo=UTC) == T0 + timedelta(hours=2)
    assert tr.words == [{"word": "紧急 小区 漏水 物业 不管", "start": 0.0, "end": 1.0, "conf": 0.9}]


async def message_without_model(db: Db, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> VoicemailPipeline:
    """A message processed while no speech model of its language is installed."""
    def missing(lang: str) -> None:
        raise ModelMissing(f"no speech model installed for language {lang!r}")
    monkeypatch.setattr("ivr.followup.pipeline.resolve", missing)
    p = VoicemailPipeline(_config(tmp_path), db)
    await _message(db, p.config)
    job = await jobs.claim_next(db)
    assert job is not None
    await p.process(job)
    return p


async def test_pipeline_missing_model_fails_job_keeps_case(db: Db, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    await message_without_model(db, tmp_path, monkeypatch)
    async with db() as s:
        job_row = (await s.scalars(select(TranscriptionJob))).one()
        case = (await s.scalars(select(Case))).one()
        assert await s.scalar(select(func.count()).select_from(Voicemail)) == 1
    assert job_row.status == "failed" and "ModelMissing" in (job_row.last_error or "")
    assert case.needs_listening and case.status == "new"


async def test_sweep_gives_calls_their_missing_follow_up_once(db: Db, tmp_path: Path) -> None:
    """The controller was killed between the records and their follow-up (no listener ran):
    the sweep opens the missed cases and queues the message, once, and leaves alone other
    kinds, outcomes that need no case, another node's calls and calls that have their case."""
    config = _config(tmp_path)
    node = config.node.name
    vm = "/inst/spool/ivr-voicemail/L-vm-o0.wav"
    rows = [("L-missed", "citizen", "missed", node, None), ("L-aband", "citizen", "abandoned", node, None),
            ("L-answered", "citizen", "answered", node, None), ("L-refused", "citizen", "refused", node, None),
            ("L-interrupted", "citizen", "interrupted", node, None),
            ("L-callback", "callback", "missed", node, None), ("L-other", "citizen", "missed", "b", None),
            ("L-had", "citizen", "missed", node, None), ("L-vm", "citizen", "voicemail", node, vm)]
    async with db() as s, s.begin():
        for lid, kind, outcome, n, file in rows:
            s.add(Call(linkedid=lid, kind=kind, outcome=outcome, node=n, caller="13700000001",
                       started_at=T0, ended_at=T0, voicemail_file=file))
    await ingest_call(db, config, HOURS, CallView("L-had", outcome="missed", ended_at=T0))
    assert await ingest.sweep_calls(db, config, HOURS) == (2, 1)
    assert await ingest.sweep_calls(db, config, HOURS) == (0, 0)  # idempotent
    async with db() as s:
        got = sorted((lid, k) for lid, k in (await s.execute(
            select(Call.linkedid, Case.kind).join(Case, Case.call_id == Call.id))).all())
        jobs_n = await s.scalar(select(func.count()).select_from(TranscriptionJob))
    assert got == [("L-aband", "missed"), ("L-had", "missed"),
                                            ("L-missed", "missed"), ("L-vm", "voicemail")]
    assert jobs_n == 1


async def test_pipeline_sweeps_at_start(db: Db, tmp_path: Path) -> None:
    config = _config(tmp_path)
    async with db() as s, s.begin():
        s.add(Call(linkedid="L9", kind="citizen", outcome="missed", node=config.node.name,
                   started_at=T0, ended_at=T0))
    pipeline = VoicemailPipeline(config, db)
    pipeline.preload, pipeline.workers = False, 1
    await pipeline.run()
    try:
        assert pipeline.stats["swept"] == 1
        async with db() as s:
            assert (await s.scalars(select(Case.kind))).all() == ["missed"]
    finally:
        await pipeline.close()
