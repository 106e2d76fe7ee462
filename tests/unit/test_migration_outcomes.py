"""Migration 0008 (the outcome model) converts stored calls and steps by the boundary rule, on
SQLite and PostgreSQL: rows written by the pre-0008 fold, upgraded, read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from ivr.core.config import Config
from ivr.db.session import create_engine, upgrade_async

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC).replace(tzinfo=None)


def _at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


# linkedid: (old outcome, answered_kind, answered after s, ended after s,
#            [(kind, result)], expected (outcome, answered_role, waited, abandoned_during, results))
CASES: dict[str, tuple[Any, ...]] = {
    "ans": ("answered", "direct", 3.0, 40.0, [("direct", "ANSWER")],
            ("answered", "official", 3.0, None, ["ANSWER"])),
    "pool": ("answered", "pool", 12.0, 30.0, [("direct", "BUSY"), ("pool", "ANSWER")],
             ("answered", "operator", 12.0, None, ["BUSY", "ANSWER"])),
    "busy": ("busy", None, None, 66.0, [("direct", "BUSY"), ("pool", "TIMEOUT"), ("message", "PLAYED")],
             ("missed", None, None, None, ["BUSY", "TIMEOUT", "PLAYED"])),
    "noans": ("no-answer", None, None, 30.0, [("direct", "NOANSWER"), ("message", "PLAYED")],
              ("missed", None, None, None, ["NOANSWER", "PLAYED"])),
    # the old fold: hung up during the closing message → abandoned, message:BUSY
    "cutmsg": ("abandoned", None, None, 63.0, [("direct", "BUSY"), ("pool", "TIMEOUT"), ("message", "BUSY")],
               ("missed", None, None, None, ["BUSY", "TIMEOUT", "CUT"])),
    "cutgreet": ("abandoned", None, None, 9.0, [("direct", "NOANSWER"), ("voicemail", "NOANSWER")],
                 ("missed", None, None, None, ["NOANSWER", "CUT"])),
    "short": ("abandoned", None, None, 20.0, [("voicemail", "RECORDED")],
              ("missed", None, None, None, ["EMPTY"])),
    "ring": ("abandoned", None, None, 6.0, [("direct", "CANCEL")],
             ("abandoned", None, 6.0, "ringing", ["CANCEL"])),
    "queued": ("abandoned", None, None, 35.5, [("direct", "NOANSWER"), ("pool", "NOANSWER")],
               ("abandoned", None, 35.5, "queued", ["NOANSWER", "CANCEL"])),
    "menu": ("abandoned", None, None, 4.0, [("menu", "CANCEL")],
             ("abandoned", None, 4.0, "menu", ["CUT"])),
    "none": ("failed", None, None, 1.0, [], ("abandoned", None, 1.0, "routing", [])),
    "vm": ("voicemail", None, None, 25.0, [("voicemail", "RECORDED")],
           ("voicemail", None, None, None, ["RECORDED"])),
    "ref": ("refused", None, None, 0.1, [], ("refused", None, None, None, [])),
}


async def test_0008_converts_stored_calls(db_url: str) -> None:
    await upgrade_async(db_url, "0006")
    engine = create_engine(Config.build(database={"url": db_url}))
    try:
        async with engine.begin() as conn:
            for i, (lid, (outcome, akind, ans, ended, steps, _)) in enumerate(CASES.items(), 1):
                await conn.execute(text(
                    "INSERT INTO calls (id, linkedid, number_dialed, caller, route_source, mode, "
                    "outcome, answered_by, answered_kind, started_at, answered_at, ended_at) VALUES "
                    "(:id, :lid, '05585551001', '13800000000', 'agi', 'direct', :outcome, :by, "
                    ":akind, :start, :ans, :end)"),
                    dict(id=i, lid=lid, outcome=outcome, by="o-12" if akind else None, akind=akind,
                         start=_at(0), ans=_at(ans) if ans is not None else None, end=_at(ended)))
                for seq, (kind, result) in enumerate(steps, 1):
                    await conn.execute(text(
                        "INSERT INTO call_steps (call_id, seq, kind, target, result, started_at, "
                        "ended_at) VALUES (:cid, :seq, :kind, 'x', :result, :start, :end)"),
                        dict(cid=i, seq=0 if kind == "menu" else seq, kind=kind, result=result,
                             start=_at(seq), end=_at(ended)))
        await upgrade_async(db_url)
        async with engine.connect() as conn:
            rows = {r.linkedid: r for r in (await conn.execute(text(
                "SELECT id, linkedid, kind, outcome, answered_role, waited_secs, abandoned_during, "
                "confirmed FROM calls"))).all()}
            steps = (await conn.execute(text(
                "SELECT call_id, result FROM call_steps ORDER BY call_id, seq"))).all()
    finally:
        await engine.dispose()
    for lid, case in CASES.items():
        outcome, role, waited, during, results = case[-1]
        r = rows[lid]
        got = (r.outcome, r.answered_role, None if r.waited_secs is None else float(r.waited_secs),
               r.abandoned_during, [s.result for s in steps if s.call_id == r.id])
        assert got == (outcome, role, waited, during, results), lid
        assert r.kind == "citizen" and r.confirmed is None
