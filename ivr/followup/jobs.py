"""The transcription job queue, persisted in the database.

``pending → running → done | failed``. A worker claims the oldest pending job with a guarded
UPDATE (``WHERE status = 'pending'``), so two workers (or two processes) never run the same job.
A retriable failure (a recognition worker died) puts the job back to ``pending`` until
``max_attempts``; anything else fails it with the reason. On start, :func:`recover` returns jobs
left ``running`` by a crash to ``pending`` (or fails them once they used every attempt: a message
that crashes the recogniser must not crash it forever; its case is then flagged for listening,
like any job given up). No job stays ``running``.
"""

from __future__ import annotations

from sqlalchemy import select, update

from ivr.core.timeutil import utcnow
from ivr.db.followup_models import TranscriptionJob
from ivr.db.session import Db
from ivr.followup.cases import flag_no_transcript

MAX_ATTEMPTS = 3





async def claim_next(db: Db) -> TranscriptionJob | None:
    """Take the oldest pending job (now ``running``, attempts + 1), or None."""
    for _ in range(5):  # another worker may take the candidate first: try the next one
        async with db() as session, session.begin():
            job_id = await session.scalar(select(TranscriptionJob.id)
                                          .where(TranscriptionJob.status == "pending")
                                          .order_by(TranscriptionJob.id).limit(1))
            if job_id is None:
                return None
            now = utcnow()
            result = await session.execute(
                update(TranscriptionJob)
                .where(TranscriptionJob.id == job_id, TranscriptionJob.status == "pending")
                .values(status="running", attempts=TranscriptionJob.attempts + 1,
                        started_at=now, updated_at=now))
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return await session.get(TranscriptionJob, job_id)
    return None


async def finish(db: Db, job_id: int) -> None:
    async with db() as session, session.begin():
        now = utcnow()
        await session.execute(update(TranscriptionJob).where(TranscriptionJob.id == job_id)
                              .values(status="done", last_error=None, finished_at=now,
                                      updated_at=now))


async def fail(db: Db, job_id: int, reason: str, *, retriable: bool,
               max_attempts: int = MAX_ATTEMPTS) -> str:
    """Record a failure; returns the new status (``pending`` to retry, or ``failed``)."""
    async with db() as session, session.begin():
        job = await session.get(TranscriptionJob, job_id)
        if job is None:
            return "failed"
        now = utcnow()
        job.last_error = reason[:2000]
        job.updated_at = now
        if retriable and job.attempts < max_attempts:
            job.status = "pending"
        else:
            job.status, job.finished_at = "failed", now
            if retriable:
                job.last_error = f"gave up after {job.attempts} attempts: {reason}"[:2000]
        return job.status


async def recover(db: Db, max_attempts: int = MAX_ATTEMPTS) -> int:
    """Jobs left ``running`` by a crash go back to ``pending`` (or fail when out of attempts)."""
    async with db() as session, session.begin():
        jobs = (await session.scalars(select(TranscriptionJob)
                                      .where(TranscriptionJob.status == "running"))).all()
        now = utcnow()
        for job in jobs:
            job.updated_at = now
            reason = "interrupted (the controller stopped during transcription)"
            if job.attempts >= max_attempts:
                job.status, job.finished_at = "failed", now
                job.last_error = f"gave up after {job.attempts} interrupted attempts"
                # nobody will transcribe it: someone must listen (same transaction)
                await flag_no_transcript(session, job.voicemail_id, job.last_error)
            else:
                job.status, job.last_error = "pending", reason
        return len(jobs)


async def retry_failed(db: Db, voicemail_id: int) -> bool:
    """Put a failed job back in the queue (e.g. after installing the missing model)."""
    async with db() as session, session.begin():
        result = await session.execute(
            update(TranscriptionJob)
            .where(TranscriptionJob.voicemail_id == voicemail_id,
                   TranscriptionJob.status == "failed")
            .values(status="pending", attempts=0, updated_at=utcnow()))
        return bool(result.rowcount)  # type: ignore[attr-defined]
