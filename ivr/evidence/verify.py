"""``ivr verify``: every chain and every sealed row checked; the first broken entry named.

1. Each chain (stream, node): seqs 1, 2, … without a gap, each entry's ``prev_hash`` the entry
   hash before it, each entry hash recomputed, the head row (``evidence_heads``) its last entry
   (a truncated tail leaves the head further on).
2. Each sealed row (its newest entry: a superseding one wins) read back and hashed again: a
   missing row is broken unless a retention entry released it; an anonymised field must be
   blank and its kept hash is used; otherwise the fields must give the sealed content hash
   (the field that differs is named from the entry's field hashes).
3. Rows without any entry (written behind the recorder's and the sealer's back).
4. ``--against``: published heads (``ivr.evidence.heads``): each must still be the entry at its
   seq; a database rewritten with a recomputed chain differs there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ivr.db.models import Official
from ivr.db.session import Db
from ivr.evidence.canon import canonical, content_hash, entry_hash, field_hash, sha256
from ivr.evidence.chain import EV, HEADS, unsealed
from ivr.evidence.contents import KINDS, SALTED, STEPS, content_of

PAGE = 2000


@dataclass(frozen=True, slots=True)
class Problem:
    stream: str
    node: str
    seq: int | None
    what: str
    kind: str = ""
    ref: str = ""

    def __str__(self) -> str:
        where = f"{self.stream}/{self.node}" + (f" seq {self.seq}" if self.seq is not None else "")
        row = f" ({self.kind} {self.ref})" if self.kind else ""
        return f"{where}{row}: {self.what}"


@dataclass
class Report:
    chains: int = 0
    entries: int = 0
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Sealed:
    stream: str
    node: str
    seq: int
    rev: int
    content_hash: str
    salt: str | None
    detail: dict[str, Any] | None


@dataclass
class _State:
    latest: dict[tuple[str, str], Sealed] = field(default_factory=dict)
    released: list[tuple[int, int]] = field(default_factory=list)
    kept: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    ids: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, ref) → entry id


def _retention(state: _State, detail: Mapping[Any, Any]) -> None:
    for lo, hi in detail.get("released") or []:
        state.released.append((int(lo), int(hi)))
    for key, hashes in (detail.get("rows") or {}).items():
        kind, ref = str(key).split(":", 1)
        state.kept.setdefault((kind, ref), {}).update(hashes)


async def _chains(db: Db, report: Report, state: _State) -> None:
    async with db() as session:
        heads = {(r.stream, r.node): r for r in (await session.execute(select(HEADS))).all()}
        chains = set(heads) | {(r.stream, r.node) for r in (await session.execute(
            select(EV.c.stream, EV.c.node).distinct())).all()}
    for stream, node in sorted(chains):
        report.chains += 1
        last_seq, last_hash, after = 0, "0" * 64, 0
        while True:
            async with db() as session:
                page = (await session.execute(
                    select(EV).where(EV.c.stream == stream, EV.c.node == node, EV.c.seq > after)
                    .order_by(EV.c.seq).limit(PAGE))).all()
            if not page:
                break
            for e in page:
                report.entries += 1
                after = e.seq
                bad = Problem(stream, node, e.seq, "", e.kind, e.ref)
                if e.seq != last_seq + 1:
                    report.problems.append(Problem(stream, node, last_seq + 1,
                                                   f"entry missing (the chain goes from seq "
                                                   f"{last_seq} to {e.seq})"))
                elif e.prev_hash != last_hash:
                    report.problems.append(_with(bad, "prev_hash is not the hash of the entry "
                                                      "before it"))
                again = entry_hash(stream=stream, node=node, seq=e.seq, kind=e.kind, ref=e.ref,
                                   rev=e.rev, content=e.content_hash, prev=e.prev_hash, at=e.at,
                                   detail=e.detail)
                if again != e.entry_hash:
                    report.problems.append(_with(bad, "the entry was changed (its hash does not "
                                                      "match its fields)"))
                if e.kind == "retention":
                    if content_hash({"detail": sha256(canonical(e.detail))}) != e.content_hash:
                        report.problems.append(_with(bad, "the retention detail was changed"))
                    _retention(state, e.detail or {})
                else:
                    prior = state.latest.get((e.kind, e.ref))
                    if prior is None or e.rev > prior.rev:
                        state.latest[(e.kind, e.ref)] = Sealed(stream, node, e.seq, e.rev,
                                                                e.content_hash, e.salt, e.detail)
                        state.ids[(e.kind, e.ref)] = e.id
                last_seq, last_hash = e.seq, e.entry_hash
        head = heads.get((stream, node))
        if head is None:
            report.problems.append(Problem(stream, node, None, "the chain has no head row"))
        elif (head.seq, head.entry_hash) != (last_seq, last_hash):
            report.problems.append(Problem(
                stream, node, last_seq + 1 if head.seq > last_seq else head.seq,
                f"the head is seq {head.seq} but the chain ends at seq {last_seq} "
                f"(its tail was truncated or the head moved)"))


def _with(p: Problem, what: str) -> Problem:
    return Problem(p.stream, p.node, p.seq, what, p.kind, p.ref)


def _released(state: _State, entry_id: int) -> bool:
    return any(lo <= entry_id <= hi for lo, hi in state.released)


def check_row(kind: str, ref: str, sealed: Sealed, row: Mapping[Any, Any],
              steps: list[Mapping[Any, Any]] | None, kept: Mapping[str, str],
              officials: set[int]) -> str | None:
    """Why the stored row does not match its sealed entry (None: it does)."""
    content = content_of(kind, row, steps)
    for name, value in ((sealed.detail or {}).get("fk") or {}).items():
        if content.get(name) is None and value not in officials:
            content[name] = value  # nulled by the database when the official was removed
    hashes: dict[str, str] = {}
    for name, value in content.items():
        if name in kept:
            if value not in ("", None):
                return f"{name} was anonymised but holds a value again"
            hashes[name] = kept[name]
        elif name in SALTED[kind]:
            if sealed.salt is None:
                return f"{name}: its salt was cleared but no retention entry anonymised it"
            hashes[name] = field_hash(sealed.salt, name, value)
        else:
            hashes[name] = field_hash("", name, value)
    if content_hash(hashes) == sealed.content_hash:
        return None
    fields = (sealed.detail or {}).get("fields") or {}
    differ = sorted(n for n, h in hashes.items() if fields.get(n) not in (None, h))
    if differ:
        return "differs from the sealed record in: " + ", ".join(differ)
    return "differs from the sealed content hash"


async def _rows(db: Db, report: Report, state: _State) -> None:
    async with db() as session:
        officials = set((await session.scalars(select(Official.id))).all())
    for kind, (table, key, _) in KINDS.items():
        refs = sorted((ref for k, ref in state.latest if k == kind),
                      key=lambda r: (len(r), r))
        for i in range(0, len(refs), PAGE):
            chunk = refs[i:i + PAGE]
            wanted: list[Any] = chunk if kind == "cel" else [int(r) for r in chunk]
            async with db() as session:
                rows = {str(r._mapping[key]): r._mapping for r in (await session.execute(
                    select(table).where(table.c[key].in_(wanted)))).all()}
                steps: dict[str, list[Mapping[Any, Any]]] = {}
                if kind == "call":
                    for s in (await session.execute(
                            select(STEPS).where(STEPS.c.call_id.in_(wanted)))).all():
                        steps.setdefault(str(s.call_id), []).append(s._mapping)
            for ref in chunk:
                sealed = state.latest[(kind, ref)]
                row = rows.get(ref)
                report.rows += 1
                if row is None:
                    if not _released(state, state.ids[(kind, ref)]):
                        report.problems.append(Problem(
                            sealed.stream, sealed.node, sealed.seq,
                            "the sealed row is missing (deleted without a retention entry)",
                            kind, ref))
                    continue
                why = check_row(kind, ref, sealed, row, steps.get(ref, []),
                                state.kept.get((kind, ref), {}), officials)
                if why:
                    report.problems.append(Problem(sealed.stream, sealed.node, sealed.seq, why,
                                                   kind, ref))


async def _unsealed(db: Db, report: Report) -> None:
    async with db() as session:
        for kind, (_, key, _) in KINDS.items():
            for row in (await session.execute(unsealed(kind).limit(5))).all():
                report.problems.append(Problem(
                    kind, str(getattr(row, "node", "") or "-"), None,
                    "a row without an evidence entry (written behind the chain's back, or not "
                    "sealed yet)", kind, str(row._mapping[key])))


def check_against(report: Report, published: Mapping[Any, Any],
                  entries: Mapping[tuple[str, str, int], str]) -> None:
    for head in published.get("heads") or []:
        stream, node, seq = str(head["stream"]), str(head["node"]), int(head["seq"])
        have = entries.get((stream, node, seq))
        if have is None:
            report.problems.append(Problem(stream, node, seq, "the published head is not in "
                                           "the database (the chain was cut or replaced)"))
        elif have != head["entry_hash"]:
            report.problems.append(Problem(stream, node, seq, "differs from the published head "
                                           "(the chain was rewritten after it was published)"))


async def verify(db: Db, published: Mapping[Any, Any] | None = None) -> Report:
    report, state = Report(), _State()
    await _chains(db, report, state)
    await _rows(db, report, state)
    await _unsealed(db, report)
    if published is not None:
        wanted = [(str(h["stream"]), str(h["node"]), int(h["seq"]))
                  for h in published.get("heads") or []]
        entries: dict[tuple[str, str, int], str] = {}
        async with db() as session:
            for stream, node, seq in wanted:
                h = await session.scalar(select(EV.c.entry_hash).where(
                    EV.c.stream == stream, EV.c.node == node, EV.c.seq == seq))
                if h is not None:
                    entries[(stream, node, seq)] = h
        check_against(report, published, entries)
    return report
