"""The call recorder (ivr/calls/recorder.py) on a real SQLite database: dedupe of live (AMI) and
replayed (journal) events, re-folding, journal replay from a saved offset."""

from __future__ import annotations

import json
import os
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ivr.calls.events import CelRecord, from_ami, from_journal_line
from ivr.calls.recorder import CallRecorder, offset_key, wav_seconds
from ivr.core.config import Config
from ivr.db.models import Base, Call, CallStep, CelEvent, Official, Setting
from ivr.db.session import Db, create_engine, make_sessionmaker
from ivr.directory.importer import import_text

T0 = 1795366780.0
INSTANCE = "/var/lib/ivr-asterisk"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config.build(database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"},
                        asterisk={"root": str(tmp_path / "root"), "instance": INSTANCE})


@pytest.fixture
async def db(config: Config) -> AsyncIterator[Db]:
    engine = create_engine(config)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield make_sessionmaker(engine)
    await engine.dispose()


def _fields(name: str, t: float, extra: str, uniqueid: str, linkedid: str) -> dict[str, Any]:
    return dict(name=name, t=f"{t:.6f}", extra=extra, uniqueid=uniqueid, linkedid=linkedid)


class Call_:
    """One call's events, renderable as AMI messages or journal lines."""

    def __init__(self, linkedid: str, t0: float = T0) -> None:
        self.linkedid, self.t0 = linkedid, t0
        self.events: list[dict[str, Any]] = []

    def user(self, name: str, dt: float, text: str, uniqueid: str | None = None) -> Call_:
        self.events.append(_fields(name, self.t0 + dt, json.dumps({"extra": text}, separators=(",", ":")),
                                   uniqueid or self.linkedid, self.linkedid) | {"kind": "user"})
        return self

    def answer(self, dt: float, uniqueid: str, channel: str) -> Call_:
        """Asterisk's own CEL ANSWER of a callee channel."""
        self.events.append(_fields("ANSWER", self.t0 + dt, "", uniqueid, self.linkedid)
                           | {"kind": "ANSWER", "channel": channel})
        return self

    def hangup(self, dt: float, dialstatus: str = "") -> Call_:
        extra = json.dumps({"hangupcause": 16, "hangupsource": "PJSIP/carrier-00000010",
                            "dialstatus": dialstatus}, separators=(",", ":"))
        self.events.append(_fields("HANGUP", self.t0 + dt, extra, self.linkedid, self.linkedid)
                           | {"kind": "HANGUP"})
        self.events.append(_fields("LINKEDID_END", self.t0 + dt, "", self.linkedid, self.linkedid)
                           | {"kind": "LINKEDID_END"})
        return self

    def ami(self, skew: float = 0.000007) -> list[dict[str, str]]:
        return [{"Event": "CEL", "EventName": e["name"], "Timestamp": f"{float(e['t']) + skew:.6f}",
                 "UniqueID": e["uniqueid"], "LinkedID": e["linkedid"],
                 "Channel": e.get("channel", "PJSIP/carrier-00000010"),
                 "Exten": "run", "Context": "ivr-route", "CallerIDnum": "13800000000", "Extra": e["extra"]}
                for e in self.events]

    def lines(self) -> list[str]:
        out = []
        for e in self.events:
            user = e["kind"] == "user"
            out.append(json.dumps({"eventtype": e["name"], "userdeftype": e["name"] if user else "",
                                   "eventtime": e["t"], "name": "citizen", "num": "13800000000",
                                   "exten": "run", "context": "ivr-route",
                                   "channame": e.get("channel", "PJSIP/carrier-00000010"),
                                   "uniqueid": e["uniqueid"],
                                   "linkedid": e["linkedid"], "peer": "", "eventextra": e["extra"]},
                                  separators=(",", ":"), ensure_ascii=False))
        return out

    def records(self) -> list[CelRecord]:
        """The events the recorder wants (a CEL ANSWER may or may not be one of them)."""
        return [r for line in self.lines() if (r := from_journal_line(line)) is not None]


def answered_call(linkedid: str, official: int = 0, t0: float = T0) -> Call_:
    return (Call_(linkedid, t0).user("IVR_CALL", 0, "dialed=05585551001;caller=13800000000;caller_raw=13800000000")
            .user("IVR_ROUTE", 0.1, f"official={official};src=agi;mode=direct")
            .user("IVR_STEP", 0.2, "n=1;kind=direct;target=PJSIP/o-zhang")
            .user("IVR_STEP_END", 20.2, "n=1;kind=direct;result=NOANSWER")
            .user("IVR_STEP", 20.3, "n=2;kind=pool;target=pool-main")
            .answer(24.999, f"{linkedid}1", "PJSIP/op-1-00000011")
            .user("IVR_ANSWERED", 25.0, "n=2;by=op-1", uniqueid=f"{linkedid}1")
            .user("IVR_STEP_END", 60.0, "n=2;kind=pool;result=ANSWER")
            .hangup(60.1, "ANSWER"))


async def count(db: Db, model: Any) -> int:
    async with db() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def calls(db: Db) -> list[Call]:
    async with db() as session:
        return list((await session.scalars(select(Call).order_by(Call.id))).all())


async def steps(db: Db, call_id: int) -> list[tuple[int, str, str | None, str | None]]:
    async with db() as session:
        rows = (await session.scalars(select(CallStep).where(CallStep.call_id == call_id)
                                      .order_by(CallStep.seq))).all()
        return [(s.seq, s.kind, s.result, s.answered_by) for s in rows]


async def test_ingest_writes_call_and_steps(db: Db, config: Config) -> None:
    rec = CallRecorder(db, config)
    recs = answered_call("1795366780.16").records()
    assert len(recs) in (9, 10)  # with or without the CEL ANSWER
    views = (await rec.record(recs)).views
    assert [v.outcome for v in views] == ["answered"]
    (call,) = await calls(db)
    assert (call.linkedid, call.outcome, call.answered_kind, call.answered_by, call.number_dialed,
            call.caller, call.route_source, call.mode) == (
        "1795366780.16", "answered", "pool", "op-1", "05585551001", "13800000000", "agi", "direct")
    assert call.official_id is None  # official=0: the default route
    assert await steps(db, call.id) == [(1, "direct", "NOANSWER", None), (2, "pool", "ANSWER", "op-1")]
    assert await count(db, CelEvent) == len(recs)
    assert rec.ingested == len(recs)


async def test_ingest_links_official(db: Db, config: Config) -> None:
    await import_text(db, 'officials:\n  - {slug: z, name: 张伟, numbers: ["0558-5551001"]}\n',
                      "yaml", "t")
    async with db() as session:
        oid = int(await session.scalar(select(Official.id)) or 0)
    assert oid > 0
    await CallRecorder(db, config).record(answered_call("1795366780.16", official=oid).records())
    (call,) = await calls(db)
    assert call.official_id == oid


async def test_same_events_from_ami_and_journal_same_keys(db: Db, config: Config) -> None:
    """AMI's copy (live views) and the journal's (records) are the same events, same keys."""
    c = answered_call("1795366780.16")
    amis = [r for m in c.ami() if (r := from_ami(m)) is not None]
    assert [r.key for r in amis] == [r.key for r in c.records()]
    assert from_ami({"Event": "CEL", "EventName": "CHAN_START", "Timestamp": "1.0",
                     "UniqueID": "x", "LinkedID": "x"}) is None  # not wanted


async def test_recorded_once_whatever_the_repeats(db: Db, config: Config) -> None:
    c = answered_call("1795366780.16")
    n = len(c.records())
    rec = CallRecorder(db, config)
    (view,) = (await rec.record(c.records())).views
    assert view.outcome == "answered" and view.call_id is not None
    before = await calls(db)
    await rec.record(c.records())  # the same events again (a chunk read twice)
    await CallRecorder(db, config).record(c.records())  # and again after a restart
    assert await count(db, CelEvent) == n
    after = await calls(db)
    assert len(after) == 1 and after[0].id == before[0].id and after[0].outcome == "answered"
    assert await count(db, CallStep) == 2


async def test_duplicates_within_one_batch(db: Db, config: Config) -> None:
    c = answered_call("1795366780.16")
    amis = [r for m in c.ami() if (r := from_ami(m)) is not None]
    batch = [r for pair in zip(amis, c.records(), strict=False) for r in pair]
    await CallRecorder(db, config).record(batch)
    assert await count(db, CelEvent) == len(c.records())
    assert (await calls(db))[0].outcome == "answered"


def _split(recs: list[CelRecord]) -> tuple[list[CelRecord], list[CelRecord], list[CelRecord]]:
    """call+route+step 1 | up to the answer | the rest (step end, hangup, linkedid end)."""
    k = next(i for i, r in enumerate(recs) if r.name == "IVR_ANSWERED") + 1
    return recs[:3], recs[3:k], recs[k:]


async def test_written_once_it_ends_across_chunks_and_restarts(db: Db, config: Config) -> None:
    first, mid, rest = _split(answered_call("1795366780.16").records())
    rec = CallRecorder(db, config)
    assert (await rec.record(first)).views == []
    assert await calls(db) == [] and rec.open == {"1795366780.16"}
    # a restart between chunks: the new recorder knows the call from its stored events
    rec = CallRecorder(db, config)
    await rec.load()
    assert rec.open == {"1795366780.16"}
    answer = [r for r in mid if r.eventtype == "ANSWER"]  # not announced by itself
    assert (await rec.record(mid)).views == []
    (view,) = (await rec.record(rest)).views
    assert view.outcome == "answered" and rec.open == set()
    (call,) = await calls(db)
    assert call.outcome == "answered" and call.ended_at is not None and call.answered_by == "op-1"
    assert await steps(db, call.id) == [(1, "direct", "NOANSWER", None), (2, "pool", "ANSWER", "op-1")]
    assert await count(db, CelEvent) == len(first + mid + rest) >= 9 + len(answer)


async def test_events_of_calls_not_ours_are_dropped(db: Db, config: Config) -> None:
    other = Call_("1795366790.9").answer(1, "1795366790.9", "PJSIP/o-1-00000001").hangup(5)
    rec = CallRecorder(db, config)
    out = await rec.record(other.records())
    assert out.views == [] and out.records == [] and await count(db, CelEvent) == 0


async def test_events_without_call_event_not_recorded(db: Db, config: Config) -> None:
    odd = (Call_("1795366790.1").user("IVR_CALLBACK", 0, "case=4;number=13800000000").hangup(5))
    rec = CallRecorder(db, config)
    out = await rec.record(odd.records())
    assert out.views == [] and await calls(db) == [] and await count(db, CelEvent) == 3
    assert [r.name for r in out.records] == ["IVR_CALLBACK", "HANGUP", "LINKEDID_END"]
    assert (await rec.record([])).views == []


async def test_callback_legs_get_a_record_of_their_own(db: Db, config: Config) -> None:
    lid = "ivrcb-4-00aa11bb22cc"
    reached = (Call_(lid).user("IVR_CALLBACK", 2, "case=4;number=13800000000")
               .answer(6, "1795366790.2", "PJSIP/carrier-00000002")
               .user("IVR_CALLBACK_ANSWERED", 6, "case=4")
               .user("IVR_CALLBACK_END", 40, "case=4;result=ANSWER").hangup(40))
    never = Call_("ivrcb-5-00aa11bb22cd").hangup(30)  # the phone never answered: no IVR_ event
    rec = CallRecorder(db, config)
    out = await rec.record(reached.records() + never.records())
    assert sorted((v.linkedid, v.kind, v.outcome) for v in out.views) == [
        ("ivrcb-4-00aa11bb22cc", "callback", "answered"),
        ("ivrcb-5-00aa11bb22cd", "callback", "abandoned")]
    a, b = await calls(db)
    assert (a.number_dialed, a.answered_by, a.answered_kind) == ("13800000000", "13800000000", "callback")
    assert await steps(db, a.id) == [(1, "callback", "ANSWER", "13800000000")]
    assert b.outcome == "abandoned" and rec.open == set()


def write_wav(path: Path, seconds: float, rate: int = 8000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))


def voicemail_call(linkedid: str) -> Call_:
    return (Call_(linkedid).user("IVR_CALL", 0, "dialed=05585551001;caller=13800000000;caller_raw=13800000000")
            .user("IVR_ROUTE", 0.1, "official=0;src=mirror;mode=voicemail")
            .user("IVR_STEP", 0.2, "n=1;kind=voicemail;target=12")
            .user("IVR_VOICEMAIL", 20.0, f"file={INSTANCE}/spool/ivr-voicemail/{linkedid}-o12.wav;status=HANGUP")
            .hangup(20.1, ""))


async def test_voicemail_duration_measured_from_file(db: Db, config: Config) -> None:
    lid = "1795366780.30"
    write_wav(config.host_path(f"{INSTANCE}/spool/ivr-voicemail/{lid}-o12.wav"), 3.0)
    await CallRecorder(db, config).record(voicemail_call(lid).records())
    (call,) = await calls(db)
    assert call.outcome == "voicemail" and call.voicemail_file.endswith(f"{lid}-o12.wav")
    assert await steps(db, call.id) == [(1, "voicemail", "RECORDED", None)]


async def test_voicemail_missing_or_empty_file(db: Db, config: Config) -> None:
    lid1, lid2 = "1795366780.31", "1795366780.32"
    write_wav(config.host_path(f"{INSTANCE}/spool/ivr-voicemail/{lid2}-o12.wav"), 0.1)
    await CallRecorder(db, config).record(voicemail_call(lid1).records() + voicemail_call(lid2).records())
    assert [c.outcome for c in await calls(db)] == ["missed", "missed"]  # greeting reached, no message


def test_wav_seconds(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", 2.5, rate=16000)
    assert wav_seconds(tmp_path / "a.wav") == pytest.approx(2.5)
    (tmp_path / "b.wav").write_bytes(b"RIFF garbage")
    assert wav_seconds(tmp_path / "b.wav") is None
    assert wav_seconds(tmp_path / "missing.wav") is None


# Regression (fixed in d9ed985): a call routed by a stale AstDB mirror (controller down, official
# deleted meanwhile) names an official id not in `officials`; writing it hit the foreign key, failed
# the whole batch, and blocked the journal replay for good.
async def test_call_to_official_unknown_to_the_db_is_still_recorded(db: Db, config: Config) -> None:
    await CallRecorder(db, config).record(answered_call("1795366780.40", official=999).records())
    (call,) = await calls(db)
    assert call.outcome == "answered" and call.official_id is None


async def test_replay_not_blocked_by_call_to_unknown_official(db: Db, config: Config) -> None:
    stale = answered_call("1795366780.40", official=999).lines()
    good = answered_call("1795366800.41", t0=T0 + 20).lines()
    write_journal(config, stale + good)
    rec = CallRecorder(db, config)
    await rec.drain()
    assert [c.linkedid for c in await calls(db)] == ["1795366780.40", "1795366800.41"]
    assert (await saved_offset(db)).get("offset") == config.cel_journal.stat().st_size


# -- journal replay ----------------------------------------------------------------------------

def write_journal(config: Config, lines: list[str], mode: str = "w", tail: str = "") -> Path:
    path = config.cel_journal
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode, encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines) + tail)
    return path


def wanted(lines: list[str]) -> int:
    return sum(from_journal_line(line) is not None for line in lines)


async def saved_offset(db: Db) -> dict[str, int]:
    async with db() as session:
        row = await session.get(Setting, offset_key(Config().node.name))  # fixture: host name
        return dict(row.value) if row is not None else {}


async def test_replay_without_journal(db: Db, config: Config) -> None:
    assert await CallRecorder(db, config).drain() == 0
    assert await calls(db) == []


async def test_replay_from_offset(db: Db, config: Config) -> None:
    a = answered_call("1795366780.16").lines()
    b = answered_call("1795366800.20", t0=T0 + 20).lines()
    noise = ['{"eventtype":"CHAN_START","userdeftype":"","eventtime":"1795366780.0","linkedid":"x"}',
             "garbage that is not JSON"]
    path = write_journal(config, a + noise)
    rec = CallRecorder(db, config)
    assert await rec.drain() == wanted(a) >= 9
    off = await saved_offset(db)
    assert off == {"inode": os.stat(path).st_ino, "offset": path.stat().st_size}
    assert await rec.drain() == 0  # nothing new
    write_journal(config, b, mode="a")
    assert await rec.drain() == wanted(b)  # only the new part
    assert [c.outcome for c in await calls(db)] == ["answered", "answered"]
    assert await count(db, CelEvent) == wanted(a + b)
    # a new recorder (controller restart) continues from the saved offset
    assert await CallRecorder(db, config).drain() == 0


async def test_replay_partly_written_last_line(db: Db, config: Config) -> None:
    lines = answered_call("1795366780.16").lines()
    last = lines[-1].encode("utf-8")
    path = write_journal(config, lines[:-1], tail=last[:25].decode("utf-8"))
    rec = CallRecorder(db, config)
    assert await rec.drain() == wanted(lines[:-1])
    assert (await saved_offset(db))["offset"] == path.stat().st_size - 25
    with open(path, "ab") as fh:
        fh.write(last[25:] + b"\n")
    assert await rec.drain() == 1
    assert await count(db, CelEvent) == wanted(lines)
    (call,) = await calls(db)
    assert call.outcome == "answered" and call.ended_at is not None
    assert (await saved_offset(db))["offset"] == path.stat().st_size


async def test_replay_partial_utf8_line(db: Db, config: Config) -> None:
    line = answered_call("1795366780.16").lines()[0].replace('"citizen"', '"张三李四"').encode("utf-8")
    cut = line.index("李".encode()) + 1  # in the middle of a multi-byte character
    path = config.cel_journal
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(line[:cut])
    rec = CallRecorder(db, config)
    assert await rec.drain() == 0
    with open(path, "ab") as fh:
        fh.write(line[cut:] + b"\n")
    assert await rec.drain() == 1
    assert await count(db, CelEvent) == 1


async def test_replay_truncated_journal(db: Db, config: Config) -> None:
    a = answered_call("1795366780.16").lines()
    path = write_journal(config, a)
    rec = CallRecorder(db, config)
    assert await rec.drain() == wanted(a)
    inode = os.stat(path).st_ino
    b = answered_call("1795366800.20", t0=T0 + 20).lines()[:3]
    with open(path, "r+", encoding="utf-8") as fh:  # same file, truncated (logrotate copytruncate)
        fh.truncate(0)
        fh.write("".join(x + "\n" for x in b))
    assert os.stat(path).st_ino == inode
    assert await rec.drain() == 3
    assert await count(db, CelEvent) == wanted(a) + 3
    assert (await saved_offset(db))["offset"] == path.stat().st_size


async def test_replay_replaced_journal(db: Db, config: Config) -> None:
    a = answered_call("1795366780.16").lines()
    path = write_journal(config, a)
    rec = CallRecorder(db, config)
    assert await rec.drain() == wanted(a)
    # rotated: a new file (new inode), longer than the old offset, holding old and new events
    b = answered_call("1795366800.20", t0=T0 + 20).lines()
    tmp = path.with_name("new.json")
    tmp.write_text("".join(x + "\n" for x in a + b), encoding="utf-8")
    keep = path.with_name("old.json")
    path.rename(keep)  # keep the old inode alive so the new file cannot reuse it
    tmp.rename(path)
    assert await rec.drain() == wanted(a + b)  # from the start: dedupe makes that safe
    assert await count(db, CelEvent) == wanted(a + b)
    assert len(await calls(db)) == 2
    assert (await saved_offset(db))["inode"] == os.stat(path).st_ino


async def test_replay_in_batches(db: Db, config: Config) -> None:
    lines: list[str] = []
    for i in range(60):  # 60 calls × 9-10 events: more than one 500-event batch
        lines += answered_call(f"1795367000.{i}", t0=T0 + 100 + i).lines()
    write_journal(config, lines)
    rec = CallRecorder(db, config)
    assert await rec.drain() == wanted(lines) >= 540
    assert await count(db, Call) == 60
    assert await count(db, CelEvent) == wanted(lines)


async def test_chunk_boundaries_change_nothing(db: Db, config: Config, tmp_path: Path) -> None:
    """Whatever the chunk size (one line, a few lines, a call and a half, all), the records are
    the same: a call is written once its end is read, from all its stored events."""
    lines: list[str] = []
    for i in range(6):
        lines += answered_call(f"1795367000.{i}", t0=T0 + 100 + i).lines()
    lines.insert(5, '{"eventtype":"CHAN_START","userdeftype":"","eventtime":"1.0","linkedid":"x"}')
    write_journal(config, lines)
    results = []
    for chunk in (1, 700, 3000, 1 << 20):
        other = config.replace(database={"url": f"sqlite+aiosqlite:///{tmp_path / f'c{chunk}.db'}"})
        engine = create_engine(other)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        cdb = make_sessionmaker(engine)
        rec = CallRecorder(cdb, other)
        assert await rec.drain(chunk) == wanted(lines)
        results.append([(c.linkedid, c.outcome, c.answered_by, c.waited_secs) + tuple(
            await steps(cdb, c.id)) for c in await calls(cdb)])
        await engine.dispose()
    assert len(results[0]) == 6 and all(r[1] == "answered" for r in results[0])
    assert results[1] == results[0] and results[2] == results[0] and results[3] == results[0]


async def test_stored_but_unwritten_calls_are_written_at_load(db: Db, config: Config) -> None:
    """Events stored by an older version whose record write failed: written at the next start."""
    recs = answered_call("1795366780.50").records()
    async with db() as session, session.begin():
        for r in recs:
            session.add(CelEvent(key=r.key, linkedid=r.linkedid, uniqueid=r.uniqueid,
                                 eventtype=r.eventtype, userdeftype=r.userdeftype,
                                 eventtime=r.eventtime, channel=r.channel, exten=r.exten,
                                 context=r.context, cid_num="", extra=r.extra, folded=False,
                                 node=config.node.name))
    assert await calls(db) == []
    rec = CallRecorder(db, config)
    await rec.load()
    (call,) = await calls(db)
    assert call.outcome == "answered" and rec.open == set()


async def test_interrupted_calls_closed_with_what_is_known(db: Db, config: Config) -> None:
    first, mid, _ = _split(answered_call("1795366780.60").records())
    rec = CallRecorder(db, config)
    await rec.record(first + mid)
    (view,) = await rec.close_interrupted(["1795366780.60", "1795366780.99"])
    assert view.outcome == "interrupted" and view.answered_by == "op-1"
    (call,) = await calls(db)
    assert call.outcome == "interrupted" and call.ended_at is not None
    assert await rec.close_interrupted(["1795366780.60"]) == []  # closed once
    assert rec.open == set()


async def test_prune_keeps_calls_in_progress_and_records(db: Db, config: Config) -> None:
    old = answered_call("1795366780.70", t0=T0 - 86400 * 40).records()
    going = _split(answered_call("1795366780.71", t0=T0 - 86400 * 40).records())[0]
    rec = CallRecorder(db, config)
    await rec.record(old + going)
    assert await rec.prune(30) == len(old)
    assert await count(db, CelEvent) == len(going)  # not written yet: kept
    (call,) = await calls(db)
    assert call.linkedid == "1795366780.70" and len(await steps(db, call.id)) == 2
    assert await rec.prune(30) == 0
