"""Retention (issue 13): personal data older than its period is anonymised or deleted, and every
such action is an entry of the ``retention`` chain, so ``ivr verify`` still passes and shows it.

Data kinds and what ``ivr retention run`` does to records older than ``[retention] <kind>_days``
(0: kept for ever):

- ``caller``: caller numbers blanked: ``calls.caller`` and ``caller_raw``, raw events'
  ``cid_num`` and ``extra`` (chained; IVR_CALL's extra holds the number — raw events are
  usually pruned long before, ``[records] keep_raw_days``), and ``voicemails.caller``,
  ``cases.caller`` (not chained);
- ``transcripts``: ``transcripts.text``, ``words`` and ``corrected_text`` blanked, and the note
  of the case events that carried a corrected text (``transcript_corrected``, chained);
- ``audio``: the voicemail recordings deleted from disk (the rows stay, with their path).

A chained row's blanked fields keep their field hashes in the retention entry (``rows``:
``kind:ref`` → field → hash) and its salt is cleared: the content hash still checks and the
blanked value cannot be found again from the kept hash. Raw events deleted by the prune
(``ivr records prune``, the recorder's own) are listed too (``released``), so a missing row is
told from a deleted one.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.core.config import Config
from ivr.core.timeutil import utcnow
from ivr.db.followup_models import Case, CaseEvent, Transcript, Voicemail
from ivr.db.models import Call, CelEvent, Official
from ivr.db.session import Db
from ivr.evidence.canon import field_hash
from ivr.evidence.chain import EV, append, latest, retention_seal
from ivr.evidence.contents import SALTED, STEPS
from ivr.evidence.verify import Sealed, check_row

log = logging.getLogger(__name__)
DATA_KINDS = ("caller", "transcripts", "audio")
BATCH = 500
# data kind → the chained (kind, table, time column, fields blanked)
CHAINED: dict[str, list[tuple[str, Any, str, tuple[str, ...]]]] = {
    "caller": [("call", Call.__table__, "started_at", ("caller", "caller_raw")),
               ("cel", CelEvent.__table__, "eventtime", ("cid_num", "extra"))],
    "transcripts": [("case", CaseEvent.__table__, "at", ("note",))],
}


def _ref_token() -> str:
    return secrets.token_hex(8)


async def release_cel(session: AsyncSession, node: str, keys: Sequence[str], days: float,
                      by: str) -> None:
    """After raw events ``keys`` were deleted (same transaction): the retention entry."""
    found = (await session.execute(select(EV.c.id).where(EV.c.kind == "cel",
                                                         EV.c.ref.in_(list(keys))))).scalars()
    ids = sorted(found)
    if not ids:
        return
    detail = {"action": "prune", "data": "cel", "older_than_days": days, "by": by,
              "count": len(keys), "released": _ranges(ids)}
    await append(session, "retention", node, [retention_seal(_ref_token(), detail)])


def _ranges(ids: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for i in ids:
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


async def _steps(session: AsyncSession, call_ids: list[int]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for s in (await session.execute(select(STEPS).where(STEPS.c.call_id.in_(call_ids)))).all():
        out.setdefault(s.call_id, []).append(s._mapping)
    return out


def _cutoff_value(kind: str, before: datetime) -> Any:
    return before.timestamp() if kind == "cel" else before


async def _anonymise_chained(session: AsyncSession, node: str, data: str, before: datetime,
                             days: float, actor: str, cursor: dict[str, int]) -> tuple[int, bool]:
    """One batch per kind after ``cursor`` (kind → last id looked at; moved on); how many
    anonymised, and whether there were rows to look at."""
    done, looked = 0, False
    for kind, table, when, fields in CHAINED.get(data, []):
        t = cast(Table, table)
        q = select(t).where(t.c[when] < _cutoff_value(kind, before),
                            or_(*[t.c[f] != "" for f in fields]))
        if kind == "case":
            q = q.where(t.c.action == "transcript_corrected")
        q = q.where(t.c.id > cursor.get(kind, 0))
        rows = (await session.execute(q.order_by(t.c.id).limit(BATCH))).all()
        if not rows:
            continue
        looked, cursor[kind] = True, rows[-1].id
        key = "key" if kind == "cel" else "id"
        sealed = await latest(session, kind, [str(r._mapping[key]) for r in rows])
        steps = await _steps(session, [r.id for r in rows]) if kind == "call" else {}
        officials = set((await session.scalars(select(Official.id))).all())
        kept: dict[str, dict[str, str]] = {}
        ids, refused = [], []
        for r in rows:
            ref = str(r._mapping[key])
            entry = sealed.get(ref)
            if entry is not None and entry.salt is not None:
                # never launder a changed record: only one that still matches its seal
                as_sealed = Sealed("", "", 0, entry.rev, entry.content_hash, entry.salt,
                                    entry.detail)
                if check_row(kind, ref, as_sealed, r._mapping, steps.get(r.id, []), {},
                             officials) is not None:
                    refused.append(ref)
                    continue
                kept[f"{kind}:{ref}"] = {f: field_hash(entry.salt, f, r._mapping[f])
                                         for f in SALTED[kind]}
            ids.append(r.id)
        if refused:
            log.error("retention: %d %s rows differ from their seal and were left as they are "
                      "(ivr verify names them): %s", len(refused), kind, ", ".join(refused[:20]))
        if not ids:
            continue
        await session.execute(update(t).where(t.c.id.in_(ids)).values({f: "" for f in fields}))
        if kept:
            refs = [k.split(":", 1)[1] for k in kept]
            await session.execute(update(EV).where(EV.c.kind == kind, EV.c.ref.in_(refs))
                                  .values(salt=None))
        detail = {"action": "anonymise", "data": data, "table": t.name, "fields": list(fields),
                  "older_than_days": days, "by": actor, "count": len(ids), "rows": kept}
        await append(session, "retention", node, [retention_seal(_ref_token(), detail)])
        done += len(ids)
    return done, looked


async def _anonymise_plain(session: AsyncSession, data: str, before: datetime) -> int:
    """The rows outside the chains that hold the same data."""
    n = 0
    if data == "caller":
        for model in (Voicemail, Case):
            time_col = Voicemail.received_at if model is Voicemail else Case.created_at
            result = await session.execute(update(model).where(time_col < before,
                                                               model.caller != "")
                                           .values(caller=""))
            n += int(getattr(result, "rowcount", 0) or 0)
    elif data == "transcripts":
        old = select(Voicemail.id).where(Voicemail.received_at < before).scalar_subquery()
        result = await session.execute(
            update(Transcript).where(Transcript.voicemail_id.in_(old), Transcript.text != "")
            .values(text="", words=[], corrected_text=None))
        n += int(getattr(result, "rowcount", 0) or 0)
    return n


async def _delete_audio(session: AsyncSession, config: Config, node: str, before: datetime,
                        days: float, actor: str) -> int:
    paths = (await session.scalars(select(Voicemail.path)
                                   .where(Voicemail.received_at < before))).all()
    gone = []
    for inside in paths:
        host = config.host_path(inside)
        if host.exists():
            Path(host).unlink()
            gone.append(inside)
    if gone:
        detail = {"action": "delete", "data": "audio", "older_than_days": days, "by": actor,
                  "count": len(gone), "files": gone[:1000]}
        await append(session, "retention", node, [retention_seal(_ref_token(), detail)])
    return len(gone)


async def run_retention(db: Db, config: Config, periods: dict[str, float], actor: str,
                        now: datetime | None = None) -> dict[str, int]:
    """Apply each data kind's period (days; 0 or absent: kept); how many rows or files each."""
    now = now or utcnow()
    node = config.node.name
    counts: dict[str, int] = {}
    for data in DATA_KINDS:
        days = periods.get(data, 0.0)
        if days <= 0:
            continue
        before = now - timedelta(days=days)
        total = 0
        if data == "audio":
            async with db() as session, session.begin():
                total = await _delete_audio(session, config, node, before, days, actor)
        else:
            cursor: dict[str, int] = {}
            while True:  # batches, each its own transaction and retention entry
                async with db() as session, session.begin():
                    n, looked = await _anonymise_chained(session, node, data, before, days,
                                                         actor, cursor)
                total += n
                if not looked:
                    break
            async with db() as session, session.begin():
                total += await _anonymise_plain(session, data, before)
        counts[data] = total
    return counts
