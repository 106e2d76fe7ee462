"""Appending to the evidence chains: one entry per sealed row, chained per stream and node.

An append locks its chain's head row (``evidence_heads``, an UPDATE: PostgreSQL row lock,
SQLite's single writer), numbers its entries after it and moves the head, all in the caller's
transaction: a chain never forks, whatever the number of controllers, and the unique
``(stream, node, seq)`` would refuse one that did. ``(kind, ref, rev)`` is unique too, so a row
is sealed once (two controllers sealing the same audit entry: one of them rolls back).

Who seals what: the recorder seals the raw events and the call records of its chunk in the
chunk's transaction (``seal_rows``); ``seal_backlog`` (every few seconds on each controller,
beside the recorder) seals case events and audit entries, and rows written before the chains
existed. A call record written again (closed as interrupted, then its end came) gets an entry
superseding the sealed one (``rev`` + 1), with the fields that changed; nothing is rewritten.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import String, Table, exists, func, insert, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.core.timeutil import utcnow
from ivr.db.evidence_models import EvidenceEntry, EvidenceHead
from ivr.db.models import Setting
from ivr.db.session import Db
from ivr.evidence.canon import (
    GENESIS,
    canonical,
    content_hash,
    entry_hash,
    field_hashes,
    new_salt,
    sha256,
)
from ivr.evidence.contents import KINDS, SALTED, STEPS, content_of, fk_of, ref_of

log = logging.getLogger(__name__)
EV = cast(Table, EvidenceEntry.__table__)
HEADS = cast(Table, EvidenceHead.__table__)
BACKLOG_BATCH = 500
MARGIN = 1000  # ids below the watermark looked at again each round


@dataclass(frozen=True, slots=True)
class Seal:
    kind: str
    ref: str
    rev: int
    content_hash: str
    salt: str | None
    detail: dict[str, Any] | None


def seal_of(kind: str, row: Mapping[Any, Any], steps: list[Mapping[Any, Any]] | None = None,
            rev: int = 0, more: Mapping[Any, Any] | None = None,
            salt: str | None = None) -> Seal:
    """The entry sealing one row as it is now (a new salt unless ``salt``)."""
    salted = SALTED[kind]
    salt = (salt or new_salt()) if salted else None
    hashes = field_hashes(salt or "", content_of(kind, row, steps), salted)
    detail: dict[str, Any] = {}
    if kind != "cel":  # which field differs can be named (raw events: only that one does)
        detail["fields"] = hashes
    if fk := fk_of(kind, row):
        detail["fk"] = fk
    detail.update(more or {})
    return Seal(kind, ref_of(kind, row), rev, content_hash(hashes), salt, detail or None)


def retention_seal(ref: str, detail: dict[str, Any]) -> Seal:
    """A retention action (``ivr.evidence.retention``): its detail is its content."""
    return Seal("retention", ref, 0, content_hash({"detail": _detail_hash(detail)}), None, detail)


def _detail_hash(detail: Any) -> str:
    return sha256(canonical(detail))


def _dialect_insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def append(session: AsyncSession, stream: str, node: str, seals: Sequence[Seal]) -> int:
    """Append ``seals`` to the chain (stream, node) in the session's transaction; the last seq."""
    if not seals:
        return 0
    await session.execute(_dialect_insert(session)(HEADS).values(
        stream=stream, node=node, seq=0, entry_hash=GENESIS).on_conflict_do_nothing())
    where = (HEADS.c.stream == stream) & (HEADS.c.node == node)
    seq, prev = (await session.execute(update(HEADS).where(where).values(seq=HEADS.c.seq)
                                       .returning(HEADS.c.seq, HEADS.c.entry_hash))).one()
    now, rows = utcnow(), []
    for s in seals:
        seq += 1
        h = entry_hash(stream=stream, node=node, seq=seq, kind=s.kind, ref=s.ref, rev=s.rev,
                       content=s.content_hash, prev=prev, at=now, detail=s.detail)
        rows.append(dict(stream=stream, node=node, seq=seq, kind=s.kind, ref=s.ref, rev=s.rev,
                         content_hash=s.content_hash, prev_hash=prev, entry_hash=h, at=now,
                         detail=s.detail, salt=s.salt))
        prev = h
    await session.execute(insert(EV), rows)
    await session.execute(update(HEADS).where(where).values(seq=seq, entry_hash=prev))
    return int(seq)


async def latest(session: AsyncSession, kind: str, refs: Iterable[str]) -> dict[str, Any]:
    """ref → the newest entry (a row: rev, detail, content_hash, salt) of each sealed ``ref``."""
    wanted = list(refs)
    if not wanted:
        return {}
    rows = (await session.execute(select(EV.c.ref, EV.c.rev, EV.c.detail, EV.c.content_hash,
                                         EV.c.salt)
                                  .where(EV.c.kind == kind, EV.c.ref.in_(wanted)))).all()
    out: dict[str, Any] = {}
    for row in rows:
        if row.ref not in out or row.rev > out[row.ref].rev:
            out[row.ref] = row
    return out


def changed_fields(before: dict[str, Any] | None, now: Seal) -> list[str]:
    old = (before or {}).get("fields") or {}
    new = (now.detail or {}).get("fields") or {}
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


async def seal_calls(session: AsyncSession, node: str, call_ids: Sequence[int],
                     reason: str) -> int:
    """Seal the call records ``call_ids`` as stored now (with their steps); a record sealed
    before gets a superseding entry (its previous rev, the fields that changed)."""
    if not call_ids:
        return 0
    table = KINDS["call"][0]
    rows = (await session.execute(select(table).where(table.c.id.in_(call_ids)))).all()
    steps: dict[int, list[Mapping[Any, Any]]] = {}
    for s in (await session.execute(select(STEPS).where(STEPS.c.call_id.in_(call_ids)))).all():
        steps.setdefault(s.call_id, []).append(s._mapping)
    before = await latest(session, "call", [str(i) for i in call_ids])
    seals = []
    for row in sorted(rows, key=lambda r: r.id):
        prior = before.get(str(row.id))
        if prior is None:
            seals.append(seal_of("call", row._mapping, steps.get(row.id, [])))
            continue
        seal = seal_of("call", row._mapping, steps.get(row.id, []), prior.rev + 1,
                       salt=prior.salt)
        if seal.content_hash == prior.content_hash:
            continue  # written again, the same record: nothing to supersede
        changed = changed_fields(prior.detail, seal)
        detail = dict(seal.detail or {}, supersedes=prior.rev, reason=reason, changed=changed)
        seals.append(Seal(seal.kind, seal.ref, seal.rev, seal.content_hash, seal.salt, detail))
    return await append(session, "call", node, seals)


async def seal_cel(session: AsyncSession, node: str, rows: Sequence[Mapping[Any, Any]]) -> int:
    """Seal raw events just stored (``rows``: the column values inserted, in order)."""
    return await append(session, "cel", node, [seal_of("cel", r) for r in rows])


def unsealed(kind: str, node: str | None = None) -> Any:
    """Rows of ``kind`` without an entry (oldest first); for cel and call, those of ``node``."""
    table, key, _ = KINDS[kind]
    col = table.c[key]
    ref = col if kind == "cel" else sql_cast(col, String)
    q = select(table).where(~exists(select(EV.c.id).where(EV.c.kind == kind, EV.c.ref == ref)))
    if node is not None and kind in ("cel", "call"):
        q = q.where(table.c.node == node)
    if kind == "call":
        q = q.where(table.c.outcome.is_not(None))
    return q.order_by(table.c.id)


async def _backlog_kind(session: AsyncSession, kind: str, node: str, batch: int,
                        rescan: bool) -> int:
    """One kind's round: rows above this node's watermark (less ``MARGIN`` ids, for a
    transaction that committed late with a lower id) that have no entry, sealed; the watermark
    (setting ``evidence_scan:<kind>:<node>``) moves on, so a round reads only new rows."""
    table, _, _ = KINDS[kind]
    key = f"evidence_scan:{kind}:{node}"
    mark = await session.get(Setting, key)
    since = int(mark.value) if mark is not None and not rescan else 0
    top_q = select(func.max(table.c.id))
    if kind in ("cel", "call"):
        top_q = top_q.where(table.c.node == node)
    top = int(await session.scalar(top_q) or 0)  # before the scan: later rows come next round
    rows = (await session.execute(unsealed(kind, node).where(table.c.id > since - MARGIN)
                                  .limit(batch))).all()
    if kind == "call" and rows:
        await seal_calls(session, node, [r.id for r in rows], "backlog")
    elif rows:
        await append(session, kind, node, [seal_of(kind, r._mapping) for r in rows])
    moved = rows[-1].id if len(rows) == batch else top
    if mark is None or moved > int(mark.value):
        if mark is None:
            session.add(Setting(key=key, value=moved))
        else:
            mark.value = moved
    return len(rows)


async def seal_backlog(db: Db, node: str, batch: int = BACKLOG_BATCH,
                       rescan: bool = False) -> int:
    """Seal rows nobody sealed yet: case events and audit entries (any controller's), and this
    node's raw events and call records stored before the chains existed. How many sealed.
    ``rescan``: from the first row, not from the watermark (``ivr evidence seal``)."""
    total = 0
    for kind in ("audit", "case", "call", "cel"):
        try:
            async with db() as session, session.begin():
                total += await _backlog_kind(session, kind, node, batch, rescan)
        except IntegrityError:  # another controller sealed some of them first: next round
            log.info("evidence backlog of %s: sealed meanwhile by another controller", kind)
        except OperationalError as exc:  # SQLite: another writer went first; next round
            log.info("evidence backlog of %s: %s; next round", kind, exc)
    return total


async def heads(session: AsyncSession) -> list[dict[str, Any]]:
    """Every chain's head: stream, node, seq, entry_hash (sorted)."""
    rows = (await session.execute(select(HEADS).order_by(HEADS.c.stream, HEADS.c.node))).all()
    return [{"stream": r.stream, "node": r.node, "seq": r.seq, "entry_hash": r.entry_hash}
            for r in rows]


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(EV)) or 0)
