"""The voicemail pipeline inside the controller: ingest, scan, transcribe, triage.

- Every call the recorder finishes goes through :func:`ingest.ingest_call` (voicemail → message,
  case and job; unanswered without a message → a missed case).
- On start and every ``[voicemail] scan_seconds`` (config, default 30) the recording folder is
  scanned for files nothing recorded (the controller was down): zero messages lost; and the
  calls table is swept for finished calls lacking their follow-up (:func:`ingest.sweep_calls`:
  the controller was killed between a record and its case).
- ``[voicemail] workers`` job workers (default: one per core) claim jobs from the database queue
  and run Vosk in the Transcriber's worker processes (never on the event loop); the models are
  loaded once per worker process when the first job arrives (``[voicemail] preload = true``: at
  start). Then the transcript is stored and triaged (rules: ``[cases] triage_rules`` path in the config,
  else the shipped file), repeat callers are found in the calls table, and the case gets its
  category, urgency and deadline.
- On start, jobs left ``running`` by a crash go back to ``pending``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ivr.calls.fold import CallView
from ivr.core.config import Config
from ivr.core.timeutil import as_utc
from ivr.db.followup_models import Case, Transcript, TranscriptionJob, Voicemail
from ivr.db.models import Call
from ivr.db.session import Db
from ivr.followup import jobs
from ivr.followup.cases import add_event, flag_no_transcript, load_case
from ivr.followup.deadlines import Deadlines
from ivr.followup.ingest import (
    ensure_voicemail,
    ingest_call,
    known_paths,
    sweep_calls,
    unrecorded_files,
)
from ivr.followup.triage import Rules, RulesError, is_repeat, load_rules, triage
from ivr.speech.audio import AudioError
from ivr.speech.models import ModelMissing, installed, normalise_language, resolve
from ivr.speech.transcribe import TranscribeError, Transcriber
from ivr.speech.transcribe import Transcript as TranscriptResult
from ivr.speech.worker import OrphanSafeTranscriber

log = logging.getLogger(__name__)
TranscriberFactory = Callable[[list[str], int], Transcriber]


def _default_factory(languages: list[str], workers: int) -> Transcriber:
    return OrphanSafeTranscriber(languages, workers=workers)


class VoicemailPipeline:
    def __init__(self, config: Config, db: Db, *, transcriber_factory: TranscriberFactory | None = None
                 ) -> None:
        vm = config.voicemail
        self.config, self.db = config, db
        self.deadlines = Deadlines.of(config)
        self.workers = max(1, vm.workers or os.cpu_count() or 1)
        self.scan_interval = vm.scan_seconds
        self.poll_interval = vm.poll_seconds
        self.preload = vm.preload
        self.max_attempts = vm.max_attempts
        self.rules = self._rules(config.cases.triage_rules or None)
        self._factory = transcriber_factory or _default_factory
        self._transcriber: Transcriber | None = None
        self._transcriber_lock = asyncio.Lock()
        self._ingest_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.stats: dict[str, int] = {"ingested_calls": 0, "scanned_files": 0, "jobs_done": 0,
                                      "jobs_failed": 0, "jobs_retried": 0, "recovered": 0,
                                      "swept": 0}

    @staticmethod
    def _rules(path: Any) -> Rules:
        try:
            return load_rules(path)
        except RulesError as exc:
            # a city's broken edit must not stop call routing: keep the shipped rules, loudly
            log.error("triage rules unusable (%s); using the shipped defaults", exc)
            return load_rules()

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        await self.prepare()
        await self.run()

    async def prepare(self) -> None:
        """Before the CEL journal replay: interrupted jobs back in the queue, folder scan."""
        self.stats["recovered"] = await jobs.recover(self.db, self.max_attempts)
        if self.stats["recovered"]:
            log.warning("%d transcription jobs interrupted by a stop were put back in the queue",
                        self.stats["recovered"])
        await self.scan()

    async def run(self) -> None:
        """After the replay (messages found by the scan are linked to their calls by then):
        the periodic scan and the job workers."""
        pending = [t for t in self._tasks if t.get_name().startswith("voicemail-ingest")]
        await asyncio.gather(*pending, return_exceptions=True)  # what the replay handed us
        try:  # calls recorded before a stop whose follow-up the stop left undone
            await self.sweep()
        except Exception:
            log.exception("follow-up sweep failed; the next scan retries it")
        if self.preload:
            await self.transcriber()
        self._spawn(self._scan_loop(), "voicemail-scan")
        for i in range(self.workers):
            self._spawn(self._worker(), f"voicemail-worker-{i}")
        self._wake.set()

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._transcriber is not None:
            await self._transcriber.close()
            self._transcriber = None

    def wake(self) -> None:
        """A job was queued from outside (a retry): the workers claim it now."""
        self._wake.set()

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- ingest -----------------------------------------------------------------------------
    def on_call(self, view: CallView) -> None:
        """CallRecorder listener: called after every re-fold; acts once the call has ended."""
        if view.outcome is not None:
            self._spawn(self._ingest(view), f"voicemail-ingest-{view.linkedid}")

    async def _ingest(self, view: CallView) -> None:
        try:
            async with self._ingest_lock:
                job = await ingest_call(self.db, self.config, self.deadlines, view)
            self.stats["ingested_calls"] += 1
            if job is not None:
                self._wake.set()
        except Exception:
            # the file stays on disk and the call in the journal: the next scan recovers it
            log.exception("could not ingest call %s", view.linkedid)

    async def scan(self) -> int:
        """Ingest recordings nothing has recorded yet; returns how many were new."""
        async with self._ingest_lock:
            known = await known_paths(self.db)
            found = await asyncio.to_thread(unrecorded_files, self.config, known)
            for path, name, secs, mtime in found:
                await ensure_voicemail(self.db, self.config, self.deadlines, path=path,
                                       linkedid=name.linkedid, official_id=name.official_id,
                                       duration=secs, received_at=mtime, source="scan")
                log.warning("voicemail %s found by the folder scan (recorded while away)", path)
        self.stats["scanned_files"] += len(found)
        if found:
            self._wake.set()
        return len(found)

    async def sweep(self) -> tuple[int, int]:
        """Finished calls lacking their follow-up (missed case, message and job) get it."""
        async with self._ingest_lock:
            opened, queued = await sweep_calls(self.db, self.config, self.deadlines)
        if opened or queued:
            log.warning("follow-up sweep: %d missed cases opened, %d messages queued "
                        "(their calls were recorded before a stop)", opened, queued)
        if queued:
            self._wake.set()
        self.stats["swept"] += opened + queued
        return opened, queued

    async def _scan_loop(self) -> None:
        while True:
            await asyncio.sleep(self.scan_interval)
            try:
                await self.scan()
            except Exception:
                log.exception("voicemail folder scan failed")
            try:
                await self.sweep()
            except Exception:
                log.exception("follow-up sweep failed")

    # -- transcription ----------------------------------------------------------------------
    async def transcriber(self) -> Transcriber:
        async with self._transcriber_lock:
            if self._transcriber is None:
                langs = sorted({m.language for m in await asyncio.to_thread(installed)
                                if m.language})
                if not langs:
                    raise ModelMissing(await asyncio.to_thread(_no_model_message))
                t = await asyncio.to_thread(self._factory, langs, self.workers)
                await t.start()
                log.info("speech models loaded in %d workers: %s", t.workers,
                         ", ".join(f"{k}={m.name}" for k, m in t.models.items()))
                self._transcriber = t
            return self._transcriber

    async def _worker(self) -> None:
        while True:
            self._wake.clear()  # before claiming: a job queued after this wakes us again
            try:
                job = await jobs.claim_next(self.db)
            except Exception:
                log.exception("could not claim a transcription job")
                job = None
            if job is None:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                except TimeoutError:
                    pass
                continue
            await self.process(job)

    async def process(self, job: TranscriptionJob) -> None:
        try:
            result = await self._transcribe(job)
        except (ModelMissing, AudioError) as exc:
            await self._failed(job, f"{type(exc).__name__}: {exc}", retriable=False)
            return
        except TranscribeError as exc:
            await self._failed(job, f"{type(exc).__name__}: {exc}", retriable=exc.retriable)
            return
        except asyncio.CancelledError:
            raise  # the controller stops: recover() puts the job back at the next start
        except Exception as exc:
            log.exception("transcription job %s failed", job.id)
            await self._failed(job, f"{type(exc).__name__}: {exc}", retriable=True)
            return
        await self._store(job, result)

    async def _transcribe(self, job: TranscriptionJob) -> TranscriptResult:
        async with self.db() as session:
            vm = await session.get(Voicemail, job.voicemail_id)
        if vm is None:
            raise AudioError(f"voicemail {job.voicemail_id} is gone")
        lang = normalise_language(vm.language)
        await asyncio.to_thread(resolve, lang)  # ModelMissing names what is installed and the fix
        transcriber = await self.transcriber()
        if lang not in transcriber.models:  # installed after the workers started
            await self._restart_transcriber()
            transcriber = await self.transcriber()
        return await transcriber.transcribe(self.config.host_path(vm.path), lang)

    async def _restart_transcriber(self) -> None:
        async with self._transcriber_lock:
            old, self._transcriber = self._transcriber, None
        if old is not None:
            await old.close()

    async def _failed(self, job: TranscriptionJob, reason: str, *, retriable: bool) -> None:
        final = not retriable or job.attempts >= self.max_attempts
        if final:  # first the case (a person listens instead), so a failed job never lacks it
            async with self.db() as session, session.begin():
                await flag_no_transcript(session, job.voicemail_id, reason)  # the message is kept
        status = await jobs.fail(self.db, job.id, reason, retriable=retriable,
                                 max_attempts=self.max_attempts)
        if status == "pending":
            self.stats["jobs_retried"] += 1
            log.warning("transcription job %s will be retried: %s", job.id, reason)
            self._wake.set()
            return
        self.stats["jobs_failed"] += 1
        log.error("transcription job %s failed: %s", job.id, reason)

    async def _store(self, job: TranscriptionJob, t: TranscriptResult) -> None:
        result = await asyncio.to_thread(triage, t.text, t.language, t.confidence, self.rules)
        async with self.db() as session, session.begin():
            vm = await session.get(Voicemail, job.voicemail_id)
            assert vm is not None
            row = await session.scalar(select(Transcript).where(Transcript.voicemail_id == vm.id))
            if row is None:
                row = Transcript(voicemail_id=vm.id, model=t.model, language=t.language)
                session.add(row)
            row.text, row.confidence, row.model, row.language = t.text, t.confidence, t.model, t.language
            row.words = [{"word": w.word, "start": w.start, "end": w.end, "conf": w.conf}
                         for w in t.words]
            row.duration, row.rtf = t.duration, t.rtf
            repeat = await self._repeat(session, vm)
            case = await session.scalar(select(Case).where(Case.voicemail_id == vm.id))
            if case is not None:
                case = await load_case(session, case.id)
                case.category, case.urgency = result.category, result.urgency
                case.matched_keywords = list(result.matched_keywords)
                case.needs_listening = result.needs_listening
                case.listen_reasons = list(result.listen_reasons)
                case.repeat_caller = repeat
                case.triaged_at = datetime.now(UTC)
                self.deadlines.apply(case)
                add_event(case, "system", "triaged", None, f"{result.category}/{result.urgency}",
                          note=",".join(result.matched_keywords + result.urgent_keywords))
        await jobs.finish(self.db, job.id)
        self.stats["jobs_done"] += 1
        log.info("voicemail %s transcribed (%.1f s, rtf %.2f) and triaged %s/%s", vm.path,
                 t.duration, t.rtf, result.category, result.urgency)

    async def _repeat(self, session: Any, vm: Voicemail) -> bool:
        """Same caller ``repeat.calls`` times within ``repeat.days`` days (the calls table)."""
        if not vm.caller:
            return False
        now = as_utc(vm.received_at)
        since = now - timedelta(days=self.rules.repeat_days)
        stmt = select(Call.started_at).where(Call.caller == vm.caller, Call.started_at >= since,
                                             Call.outcome != "refused")
        if vm.call_id is not None:
            stmt = stmt.where(Call.id != vm.call_id)
        earlier = [as_utc(t) for t in (await session.scalars(stmt)).all()]
        return is_repeat(vm.caller, earlier, now, self.rules.repeat_calls, self.rules.repeat_days)


def _no_model_message() -> str:
    try:
        resolve("zh")
    except ModelMissing as exc:
        return str(exc)
    return "no speech model installed"
