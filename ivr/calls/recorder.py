"""Writes call records from Asterisk's CEL events: live from AMI, replayed from the journal.

Raw events are stored first (deduplicated by key), then every call they touch is re-folded
from all of its stored events, in the same transaction. Replaying the journal after a crash or
an outage is therefore safe and complete: nothing is counted twice, nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import wave
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.asterisk.ami import Message
from ivr.calls.events import CelRecord, from_ami, from_journal_line, parse_extra
from ivr.calls.fold import CallView, fold
from ivr.core.config import Config
from ivr.db.models import Call, CallStep, CelEvent, Official, Setting
from ivr.db.session import Db

log = logging.getLogger(__name__)
OFFSET_KEY = "cel_journal_offset"  # before 0006: one row for all nodes; now per node:


def boot_key(node: str) -> str:
    """The settings key of the boot of a node's Asterisk last seen at an AMI login."""
    return f"asterisk_boot:{node}"


def offset_key(node: str) -> str:
    """The settings key of a node's journal position (each node replays only its own journal)."""
    return f"{OFFSET_KEY}:{node}"

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


class CallRecorder:
    """Events of calls in progress are kept in memory (live views for listeners) and stored raw;
    a call's record is written once, from all its stored events, when Asterisk says the call is
    over (LINKEDID_END). Events of calls that are not ours (no IVR_* event) are dropped."""

    KNOWN_MAX = 20000  # linkedids remembered as ours (calls in progress and just ended)

    def __init__(self, db: Db, config: Config) -> None:
        self.db, self.config = db, config
        self.queue: asyncio.Queue[CelRecord] = asyncio.Queue()
        # called with a CallView after each batch that touched a call; view.complete and
        # view.outcome are set once its record is written
        self.listeners: list[Callable[[CallView], Any]] = []
        # every stored event, live or replayed, possibly more than once: handlers must be idempotent
        self.record_listeners: list[Callable[[CelRecord], Any]] = []
        self.ingested = 0
        self.live: dict[str, list[CelRecord]] = {}
        self._known: OrderedDict[str, None] = OrderedDict()
        self._journal_lock = asyncio.Lock()
        self._loaded = False

    def on_ami_cel(self, msg: Message) -> None:
        rec = from_ami(msg)
        if rec is not None:
            self.queue.put_nowait(rec)

    # After the first event of a batch, wait this long for more: one transaction per batch
    # instead of one per event. The events of a call arrive one by one while it is being set up;
    # writing each at once cost ~17 ms of CPU per call and slowed set-up on a 2-core host
    # (bench/experiments/FINDINGS.md). Live views lag by at most this much.
    BATCH_DELAY_S = 0.25

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            await asyncio.sleep(self.BATCH_DELAY_S)
            while not self.queue.empty() and len(batch) < 500:
                batch.append(self.queue.get_nowait())
            try:
                await self.ingest(batch)
            except Exception:
                # the events are in Asterisk's journal too: the next replay recovers them
                log.exception("could not record %d CEL events; the journal replay will", len(batch))

    def _ours(self, rec: CelRecord) -> bool:
        if rec.eventtype == "USER_DEFINED":  # only IVR_* user events get this far
            self._known[rec.linkedid] = None
            self._known.move_to_end(rec.linkedid)
            while len(self._known) > self.KNOWN_MAX:
                self._known.popitem(last=False)
            return True
        return rec.linkedid in self._known

    async def _load_unfinished(self) -> None:
        """After a restart: calls whose events were stored but whose record is not written."""
        async with self.db() as session:
            # this node's calls only: another node's calls in progress are that node's to finish
            mine = or_(CelEvent.node == self.config.node.name, CelEvent.node.is_(None))
            rows = (await session.scalars(select(CelEvent).where(CelEvent.folded.is_(False), mine)
                                          .order_by(CelEvent.eventtime, CelEvent.id))).all()
        for row in rows:
            self._known[row.linkedid] = None
            self.live.setdefault(row.linkedid, []).append(_row_to_record(row))
        self._loaded = True

    async def ingest(self, records: Iterable[CelRecord]) -> list[CallView]:
        if not self._loaded:
            await self._load_unfinished()
        records = [r for r in records if self._ours(r)]
        if not records:
            return []
        async with self.db() as session, session.begin():
            records = await self._insert_events(session, records)
        if not records:
            return []  # all seen before (a replay overlapping live events)
        self.ingested += len(records)
        for record in records:
            self.live.setdefault(record.linkedid, []).append(record)
            for listener in self.record_listeners:
                listener(record)
        views: list[CallView] = []
        finished: list[str] = []
        for linkedid in dict.fromkeys(r.linkedid for r in records):
            events = self.live.get(linkedid, [])
            if not any(e.name == "IVR_CALL" for e in events):
                continue  # e.g. a callback leg: stored for its own listeners, no call record
            if any(e.eventtype == "LINKEDID_END" for e in events):
                finished.append(linkedid)
            else:
                view = fold(linkedid, events)
                view.outcome = None  # decided once the call is over
                views.append(view)
        if finished:
            try:
                views += await self._finish(finished)
            except Exception:
                # their events stay stored unfolded: written again after the next restart
                log.exception("could not write the records of %d calls", len(finished))
        for view in views:
            for on_view in self.listeners:
                on_view(view)
        return views

    async def _insert_events(self, session: AsyncSession,
                             records: list[CelRecord]) -> list[CelRecord]:
        """Store the events not stored yet; return those (in order, once each)."""
        ev = cast(Table, CelEvent.__table__)
        fresh = {r.key: r for r in records}
        seen = (await session.scalars(select(ev.c.key).where(ev.c.key.in_(fresh)))).all()
        for key in seen:
            fresh.pop(key, None)
        if fresh:
            rows = [dict(key=r.key, linkedid=r.linkedid, uniqueid=r.uniqueid, eventtype=r.eventtype,
                         userdeftype=r.userdeftype, eventtime=r.eventtime, channel=r.channel[:120],
                         exten=r.exten[:80], context=r.context[:80], cid_num=r.cid_num[:80],
                         extra=r.extra[:4000], folded=False, node=self.config.node.name)
                    for r in fresh.values()]
            # one statement for any batch size (executemany): compiled once, then cached
            dialect = session.get_bind().dialect.name
            insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
            await session.execute(insert_(ev).on_conflict_do_nothing(index_elements=["key"]), rows)
        return list(fresh.values())

    async def open_calls(self) -> set[str]:
        """This node's calls whose events are known and whose end is not (loads the stored
        ones after a restart)."""
        if not self._loaded:
            await self._load_unfinished()
        return {lid for lid, events in self.live.items()
                if not any(e.eventtype == "LINKEDID_END" for e in events)}

    async def boot_seen(self) -> str | None:
        """The boot of this node's Asterisk noted at the last AMI login (its start-up date and
        time), None before the first."""
        async with self.db() as session:
            row = await session.get(Setting, boot_key(self.config.node.name))
        return row.value.get("boot") if row is not None and isinstance(row.value, dict) else None

    async def note_boot(self, boot: str) -> None:
        async with self.db() as session, session.begin():
            row = await session.get(Setting, boot_key(self.config.node.name))
            if row is None:
                session.add(Setting(key=boot_key(self.config.node.name), value={"boot": boot}))
            else:
                row.value = {"boot": boot}

    async def close_interrupted(self, linkedids: Iterable[str]) -> list[CallView]:
        """Calls left open by a previous boot of this node's Asterisk (``linkedids``: the calls
        open when the controller logged in to the new boot; the journal is replayed first, so a
        call that did end is not closed here). Asterisk will never report their hang-up: their
        records are written now, outcome ``interrupted``, with what is known (steps so far,
        who answered), ended at their last event."""
        stale: dict[str, datetime] = {}
        for lid in linkedids:
            events = self.live.get(lid)
            if events and any(e.name == "IVR_CALL" for e in events) \
                    and not any(e.eventtype == "LINKEDID_END" for e in events):
                stale[lid] = datetime.fromtimestamp(max(e.eventtime for e in events), UTC)
        if not stale:
            return []
        views = await self._finish(list(stale), interrupted=stale)
        log.warning("%d calls left open by the previous Asterisk boot recorded as interrupted",
                    len(views))
        for view in views:
            for on_view in self.listeners:
                on_view(view)
        return views

    async def _finish(self, linkedids: list[str],
                      interrupted: dict[str, datetime] | None = None) -> list[CallView]:
        """Write the records of calls that are over, from all their stored events, in one
        transaction; mark their events folded. ``interrupted``: calls Asterisk left open
        (linkedid → the time of their last event)."""
        interrupted = interrupted or {}
        for linkedid in linkedids:
            self.live.pop(linkedid, None)
        ev = cast(Table, CelEvent.__table__)
        calls, steps = cast(Table, Call.__table__), cast(Table, CallStep.__table__)
        async with self.db() as session, session.begin():
            rows = (await session.execute(select(ev).where(ev.c.linkedid.in_(linkedids))
                                          .order_by(ev.c.eventtime, ev.c.id))).all()
            by_call: dict[str, list[CelRecord]] = {lid: [] for lid in linkedids}
            for row in rows:
                by_call[row.linkedid].append(_row_to_record(row))
            views = []
            for linkedid, events in by_call.items():
                cut = interrupted.get(linkedid)
                view = fold(linkedid, events, interrupted_at=cut)
                if view.voicemail_file:
                    secs = await asyncio.to_thread(wav_seconds,
                                                   self.config.host_path(view.voicemail_file))
                    view = fold(linkedid, events, round(secs, 2) if secs is not None else None,
                                interrupted_at=cut)
                views.append(view)
            wanted = {v.official_id for v in views if v.official_id is not None}
            known = set((await session.scalars(select(Official.id).where(Official.id.in_(wanted)))).all()) \
                if wanted else set()
            call_ids = dict((await session.execute(select(calls.c.linkedid, calls.c.id)
                                                   .where(calls.c.linkedid.in_(linkedids)))).all())
            new_rows = []
            for view in views:
                if view.official_id not in known:
                    view.official_id = None  # removed from the directory since, or a stale mirror
                values = {a: getattr(view, a) for a in _CALL_FIELDS}
                values["node"] = self.config.node.name
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
                                   started_at=s.started_at or view.started_at, ended_at=s.ended_at)
                              for s in view.steps.values()]
            if step_rows:
                await session.execute(insert(steps), step_rows)
            await session.execute(update(ev).where(ev.c.linkedid.in_(linkedids)).values(folded=True))
        return views

    # -- the durable journal ----------------------------------------------------------------
    async def replay_journal(self) -> int:
        """Ingest what Asterisk wrote to its CEL journal since the last replay."""
        async with self._journal_lock:
            key = offset_key(self.config.node.name)
            async with self.db() as session:
                # the pre-0006 shared row as a start: a wrong inode there means "read it all"
                saved = await session.get(Setting, key) or await session.get(Setting, OFFSET_KEY)
                pos = dict(saved.value) if saved is not None else {}
            lines, new_pos = await asyncio.to_thread(_read_journal, self.config.cel_journal, pos)
            records = [r for line in lines if (r := from_journal_line(line)) is not None]
            for i in range(0, len(records), 500):
                await self.ingest(records[i:i + 500])
            async with self.db() as session, session.begin():
                row = await session.get(Setting, key)
                if row is None:
                    session.add(Setting(key=key, value=new_pos))
                else:
                    row.value = new_pos
            if records:
                log.info("replayed %d CEL events from the journal", len(records))
            return len(records)


def _read_journal(path: Path, pos: dict[str, int]) -> tuple[list[str], dict[str, int]]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return [], pos
    offset = pos.get("offset", 0)
    if pos.get("inode") != st.st_ino or st.st_size < offset:
        offset = 0  # a new or truncated journal: read it all (dedupe makes that safe)
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read()
    end = data.rfind(b"\n") + 1  # a partly written last line waits for the next replay
    lines = data[:end].decode("utf-8", "replace").splitlines()
    return lines, {"inode": st.st_ino, "offset": offset + end}
