"""The only writer of call records: Asterisk's CEL journal, recorded chunk by chunk.

Each chunk of journal lines is one transaction: its events are stored raw (deduplicated by
key), the calls that ended in it (``LINKEDID_END``) are folded from all their stored events and
written, and the journal position after the chunk is saved. A failure rolls all of it back and
the same chunk is read again: nothing is counted twice, nothing is skipped. Memory holds the
chunk and the set of calls in progress, never the journal. ``ivr.calls.consumer`` runs this in
a thread of its own; ``ivr.calls.live`` folds AMI's copy of the events for live views only.
"""

from __future__ import annotations

import asyncio
import logging
import wave
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.calls.events import CelRecord, from_journal_line, parse_extra
from ivr.calls.fold import CallView, fold, kind_of, legs_text
from ivr.calls.journal import OFFSET_KEY, Position, offset_key, read_chunk
from ivr.core.config import Config
from ivr.db.models import Call, CallStep, CelEvent, Official, Setting
from ivr.db.session import Db
from ivr.evidence.chain import seal_calls, seal_cel
from ivr.evidence.retention import release_cel

log = logging.getLogger(__name__)

_CALL_FIELDS = ("linkedid", "kind", "number_dialed", "caller", "caller_raw", "caller_altered",
                "official_id", "route_source", "mode", "outcome", "answered_by", "answered_kind",
                "answered_role", "confirmed", "waited_secs", "abandoned_during", "started_at",
                "answered_at", "ended_at", "voicemail_file", "voicemail_secs")


def wav_seconds(path: Path) -> float | None:
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / float(w.getframerate() or 8000)
    except (OSError, wave.Error, EOFError):
        return None


def _row_to_record(row: Any) -> CelRecord:
    """A stored event (ORM object or Core row) back into a record."""
    text, fields = parse_extra(row.extra)
    return CelRecord(row.eventtype, row.userdeftype, row.eventtime, row.uniqueid, row.linkedid,
                     row.channel, row.exten, row.context, row.cid_num, text, fields)


@dataclass
class Recorded:
    """What one committed chunk wrote: the records of the calls that ended in it (final views,
    ``call_id`` set) and the events stored for the first time, in journal order."""
    views: list[CallView] = field(default_factory=list)
    records: list[CelRecord] = field(default_factory=list)
    position: Position | None = None


def _recordable(linkedid: str, events: Iterable[CelRecord]) -> bool:
    """A citizen's call (it has IVR_CALL), a callback's legs or a survey call get a record."""
    return kind_of(linkedid) != "citizen" or any(e.name == "IVR_CALL" for e in events)


class CallRecorder:
    """Records this node's journal into the database, chunk by chunk (see the module).

    ``open`` is the set of this node's calls with stored events and no end yet: an event whose
    call is neither there nor announced by an IVR_* event in its chunk (nor a callback leg) is
    not ours and is dropped. It is loaded from the database at the first chunk, so it survives a
    restart, and it only ever holds the calls in progress."""

    def __init__(self, db: Db, config: Config) -> None:
        self.db, self.config = db, config
        self.position: Position | None = None  # committed; None until loaded
        self.open: set[str] = set()
        self.read = 0  # journal events read
        self.ingested = 0  # events stored
        self.recorded = 0  # call records written

    @property
    def node(self) -> str:
        return self.config.node.name

    async def load(self) -> None:
        """The committed position and the calls in progress; calls whose end was stored but
        whose record was not written (before the journal was recorded in one transaction per
        chunk) are written now."""
        mine = or_(CelEvent.node == self.node, CelEvent.node.is_(None))
        async with self.db() as session:
            # the pre-0006 shared row as a start: a wrong inode there means "read it all"
            saved = await session.get(Setting, offset_key(self.node)) \
                or await session.get(Setting, OFFSET_KEY)
            pending = set((await session.scalars(
                select(CelEvent.linkedid).where(CelEvent.folded.is_(False), mine).distinct())).all())
            ended = set((await session.scalars(
                select(CelEvent.linkedid).where(CelEvent.folded.is_(False), mine,
                                                CelEvent.eventtype == "LINKEDID_END"))).all())
        self.open = pending - ended
        if ended:
            async with self.db() as session, session.begin():
                views = await self._finish(session, sorted(ended))
            log.warning("wrote %d call records whose events were stored unwritten", len(views))
        self.position = dict(saved.value) if saved is not None else {}

    async def step(self, max_bytes: int) -> Recorded | None:
        """Record the next chunk of the journal; None when there is nothing new."""
        if self.position is None:
            await self.load()
        assert self.position is not None
        lines, pos = await asyncio.to_thread(read_chunk, self.config.cel_journal, self.position,
                                             max_bytes)
        if pos == self.position:
            return None
        records = [r for line in lines if (r := from_journal_line(line)) is not None]
        self.read += len(records)
        return await self.record(records, pos)

    async def drain(self, max_bytes: int = 262144) -> int:
        """Record the journal to its end now; the number of events read (ours or not)."""
        before = self.read
        while await self.step(max_bytes) is not None:
            pass
        return self.read - before

    async def record(self, records: list[CelRecord], position: Position | None = None) -> Recorded:
        """One transaction: store ``records``, write the calls that ended, save ``position``."""
        announced = {r.linkedid for r in records
                     if r.eventtype == "USER_DEFINED" or kind_of(r.linkedid) != "citizen"}
        unknown = {r.linkedid for r in records} - announced - self.open
        if unknown:  # rare (calls that are not ours): a call closed early may still be stored
            announced |= await self._stored(unknown)
        ours = [r for r in records if r.linkedid in announced or r.linkedid in self.open]
        ended = list(dict.fromkeys(r.linkedid for r in ours if r.eventtype == "LINKEDID_END"))
        async with self.db() as session, session.begin():
            fresh = await self._insert_events(session, ours)
            views = await self._finish(session, ended) if ended else []
            if position is not None:
                await self._save_position(session, position)
        self.open = (self.open | announced) - set(ended)
        if position is not None:
            self.position = position
        self.ingested += len(fresh)
        self.recorded += len(views)
        return Recorded(views, fresh, position)

    async def _stored(self, linkedids: set[str]) -> set[str]:
        async with self.db() as session:
            return set((await session.scalars(
                select(CelEvent.linkedid).where(CelEvent.linkedid.in_(linkedids),
                                                CelEvent.node == self.node).distinct())).all())

    async def _save_position(self, session: AsyncSession, position: Position) -> None:
        row = await session.get(Setting, offset_key(self.node))
        if row is None:
            session.add(Setting(key=offset_key(self.node), value=dict(position)))
        else:
            row.value = dict(position)

    async def _insert_events(self, session: AsyncSession,
                             records: list[CelRecord]) -> list[CelRecord]:
        """Store the events not stored yet; return those (in order, once each)."""
        ev = cast(Table, CelEvent.__table__)
        fresh = {r.key: r for r in records}
        if not fresh:
            return []
        seen = (await session.scalars(select(ev.c.key).where(ev.c.key.in_(fresh)))).all()
        for key in seen:
            fresh.pop(key, None)
        if fresh:
            rows = [dict(key=r.key, linkedid=r.linkedid, uniqueid=r.uniqueid, eventtype=r.eventtype,
                         userdeftype=r.userdeftype, eventtime=r.eventtime, channel=r.channel[:120],
                         exten=r.exten[:80], context=r.context[:80], cid_num=r.cid_num[:80],
                         extra=r.extra[:4000], folded=False, node=self.node)
                    for r in fresh.values()]
            # one statement for any batch size (executemany): compiled once, then cached
            dialect = session.get_bind().dialect.name
            insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
            await session.execute(insert_(ev).on_conflict_do_nothing(index_elements=["key"]), rows)
            await seal_cel(session, self.node, rows)  # the evidence chain (ivr.evidence)
        return list(fresh.values())

    async def open_calls(self) -> set[str]:
        return set(self.open)

    async def close_interrupted(self, linkedids: Iterable[str]) -> list[CallView]:
        """Calls whose Asterisk is gone (it restarted, or their channels no longer exist) and
        whose end the journal will never hold: written now, outcome ``interrupted``, with what
        is known (steps so far, who answered), ended at their last event. Calls that did end
        meanwhile are left alone."""
        wanted = [lid for lid in linkedids if lid in self.open]
        if not wanted:
            return []
        async with self.db() as session, session.begin():
            last = dict((await session.execute(
                select(CelEvent.linkedid, func.max(CelEvent.eventtime))
                .where(CelEvent.linkedid.in_(wanted), CelEvent.folded.is_(False))
                .group_by(CelEvent.linkedid))).all())
            cut = {lid: datetime.fromtimestamp(t, UTC) for lid, t in last.items()}
            views = await self._finish(session, list(cut), interrupted=cut)
        self.open -= set(wanted)
        self.recorded += len(views)
        if views:
            log.warning("%d calls whose Asterisk is gone recorded as interrupted", len(views))
        return views

    async def prune(self, keep_days: float, batch: int = 5000) -> int:
        """Delete raw events of calls already written, older than ``keep_days`` (the records
        and their steps stay); one batch per call, so a large backlog never holds a long lock."""
        before = (datetime.now(UTC) - timedelta(days=keep_days)).timestamp()
        ev = cast(Table, CelEvent.__table__)
        async with self.db() as session, session.begin():
            rows = (await session.execute(
                select(ev.c.id, ev.c.key).where(ev.c.folded.is_(True), ev.c.eventtime < before,
                                                ev.c.node == self.node).limit(batch))).all()
            if rows:
                await session.execute(delete(ev).where(ev.c.id.in_([r.id for r in rows])))
                # the evidence chain: a retention entry releases their sealed entries
                await release_cel(session, self.node, [r.key for r in rows], keep_days,
                                  "recorder")
        return len(rows)

    async def _finish(self, session: AsyncSession, linkedids: list[str],
                      interrupted: dict[str, datetime] | None = None) -> list[CallView]:
        """Write the records of calls that are over, from all their stored events (rewritten in
        place if written before); mark their events folded. ``interrupted``: calls Asterisk
        left open (linkedid → the time of their last event). Calls that are not recordable
        (no IVR_CALL, not a callback leg) only get their events marked folded."""
        interrupted = interrupted or {}
        ev = cast(Table, CelEvent.__table__)
        calls, steps = cast(Table, Call.__table__), cast(Table, CallStep.__table__)
        rows = (await session.execute(select(ev).where(ev.c.linkedid.in_(linkedids))
                                      .order_by(ev.c.eventtime, ev.c.id))).all()
        by_call: dict[str, list[CelRecord]] = {lid: [] for lid in linkedids}
        for row in rows:
            by_call[row.linkedid].append(_row_to_record(row))
        views = []
        for linkedid, events in by_call.items():
            if not _recordable(linkedid, events):
                continue
            cut = interrupted.get(linkedid)
            view = fold(linkedid, events, interrupted_at=cut)
            if view.voicemail_file:
                secs = await asyncio.to_thread(wav_seconds,
                                               self.config.host_path(view.voicemail_file))
                view = fold(linkedid, events, round(secs, 2) if secs is not None else None,
                            interrupted_at=cut)
            views.append(view)
        await session.execute(update(ev).where(ev.c.linkedid.in_(linkedids)).values(folded=True))
        if not views:
            return []
        wanted = {v.official_id for v in views if v.official_id is not None}
        known = set((await session.scalars(select(Official.id).where(Official.id.in_(wanted))))
                    .all()) if wanted else set()
        written = [v.linkedid for v in views]
        call_ids = dict((await session.execute(select(calls.c.linkedid, calls.c.id)
                                               .where(calls.c.linkedid.in_(written)))).all())
        new_rows = []
        for view in views:
            if view.official_id not in known:
                view.official_id = None  # removed from the directory since, or a stale mirror
            values = {a: getattr(view, a) for a in _CALL_FIELDS}
            values["node"] = self.node
            if view.linkedid in call_ids:  # written before: rewritten in place, same id
                await session.execute(update(calls).where(calls.c.id == call_ids[view.linkedid])
                                      .values(values))
            else:
                new_rows.append(values)
        if new_rows:
            ids = (await session.execute(insert(calls).returning(calls.c.id, calls.c.linkedid),
                                         new_rows)).all()
            call_ids.update({lid: cid for cid, lid in ids})
        await session.execute(delete(steps).where(steps.c.call_id.in_(call_ids.values())))
        step_rows = []
        for view in views:
            view.call_id = call_ids[view.linkedid]
            step_rows += [dict(call_id=view.call_id, seq=s.seq, kind=s.kind, target=s.target,
                               result=s.result, answered_by=s.answered_by,
                               legs=legs_text(s.legs),
                               started_at=s.started_at or view.started_at, ended_at=s.ended_at)
                          for s in view.steps.values()]
        if step_rows:
            await session.execute(insert(steps), step_rows)
        # sealed into the evidence chain; a record written before gets a superseding entry
        await seal_calls(session, self.node, sorted(call_ids.values()),
                         "interrupted" if interrupted else "journal")
        return views
