"""A live mode switch, a dead or hung controller, schedule windows: real Asterisk and sipp."""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.lab import ports
from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import call_record, eventually, login_operators, routing_lab

pytestmark = pytest.mark.e2e


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab"):
        yield deployment


def citizen(sipp: Any, lab: Any, number: str, hold_ms: int, **kw: Any) -> Any:
    return sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=number,
                keys={"hold_ms": hold_ms}, timeout=40, **kw)


async def _channels(lab: Any) -> dict[str, str]:
    """Asterisk's channels now: name -> state (Up, Ringing, Ring, ...)."""
    out = await asyncio.to_thread(lab.asterisk.cli, "core show channels concise")
    return {f[0]: f[4] for f in (line.split("!") for line in out.splitlines()) if len(f) > 4}


async def _channel_in(lab: Any, prefix: str, state: str) -> bool:
    return any(name.startswith(prefix) and st == state
               for name, st in (await _channels(lab)).items())


async def _queue_callers(lab: Any, queue: str = "pool-main") -> int:
    out = await asyncio.to_thread(lab.asterisk.cli, f"queue show {queue}")
    m = re.search(rf"^{queue} has (\d+) calls?", out, re.M)
    assert m, out
    return int(m.group(1))


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_mode_switch_leaves_live_calls_alone(lab: Any, sipp: Any) -> None:
    p = lab.extra["phones"]
    await login_operators(lab, "op-1")
    # op-1 talks 3 s per call: the talking call, then the queued one, then the next one
    operator = await sipp("uas_answer", port=p["op1"], calls=3, keys={"hold_ms": 3000}).start()
    official = await sipp("uas_answer", port=p["zhang"], calls=1,
                          keys={"answer_ms": 3500, "hold_ms": 1000}).start()
    talking = citizen(sipp, lab, "13800138003", 20000)   # pool call, answered by op-1: talking
    t_talk = asyncio.create_task(talking.run())
    await eventually(lambda: _channel_in(lab, "PJSIP/op-1-", "Up"), timeout=10, interval=0.05)
    queued = citizen(sipp, lab, "05585552001", 20000)    # pool call, op-1 busy: queued
    t_queued = asyncio.create_task(queued.run())
    await eventually(lambda: _queue_callers(lab), timeout=10, interval=0.05)
    ringing = citizen(sipp, lab, "05585551001", 20000)   # direct: the official's phone rings
    t_ringing = asyncio.create_task(ringing.run())
    await eventually(lambda: _channel_in(lab, "PJSIP/o-zhang-", "Ringing"), timeout=10,
                     interval=0.05)
    # the three states at once: op-1 talking, one caller waiting, the official's phone ringing
    channels = await _channels(lab)
    assert await _queue_callers(lab) == 1, channels
    assert await _channel_in(lab, "PJSIP/op-1-", "Up"), channels

    status, body = await lab.arequest("PUT", "/api/v1/officials/zhang-wei/mode",
                                      {"mode": "pool", "reason": "局长外出开会", "actor": "admin-li"})
    assert status == 200, body
    assert lab.astdb(f"o/{body['id']}/mode") == "pool"  # mirrored before the API answered
    nxt = citizen(sipp, lab, "05585551001", 20000)       # the next call follows the new mode
    results = await asyncio.gather(t_talk, t_queued, t_ringing, nxt.run())
    for r in results:
        assert r.ok, r.summary()

    async def records() -> list[dict[str, Any]] | None:
        st, calls = await lab.arequest("GET", "/api/v1/calls?limit=10")
        done = [c for c in calls["items"] if c["outcome"]]
        return done if len(done) == 4 else None
    calls = sorted(await eventually(records, timeout=30), key=lambda c: c["started_at"])
    by_number: dict[str, list[dict[str, Any]]] = {}
    for c in calls:
        by_number.setdefault(c["number_dialed"], []).append(c)
    (talk,), (queue,) = by_number["13800138003"], by_number["05585552001"]
    ring, after = by_number["05585551001"]  # in order of arrival
    assert (talk["answered_by"], queue["answered_by"]) == ("op-1", "op-1")
    assert queue["answered_at"] > talk["answered_at"]
    assert (ring["mode"], ring["answered_kind"], ring["answered_by"]) == ("direct", "direct", "o-zhang")
    assert after["mode"] == "pool" and after["steps"][0]["kind"] == "pool"
    assert after["answered_by"] == "op-1"
    assert (await official.wait(5)).received("INVITE") and len((await operator.wait(5)).received("INVITE")) == 3

    st, audit = await lab.arequest("GET", "/api/v1/audit?limit=5")
    entry = audit["items"][0]
    assert (entry["field"], entry["old_value"], entry["new_value"]) == ("mode", "direct", "pool")
    assert (entry["actor"], entry["reason"]) == ("admin-li", "局长外出开会")
    # the records agree that the switch came while one call talked, one waited, one rang
    switched = _t(entry["at"])
    assert _t(talk["answered_at"]) < switched < _t(talk["ended_at"]), (talk, entry)
    assert _t(queue["started_at"]) < switched < _t(queue["answered_at"]), (queue, entry)
    assert _t(ring["started_at"]) < switched < _t(ring["answered_at"]), (ring, entry)
    assert _t(after["started_at"]) > switched, (after, entry)


@pytest.fixture(params=[False, True], ids=["mirror", "route_live"])
async def either_lab(request: Any, asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab",
                                        agi={"route_live": request.param}):
        yield deployment


async def test_controller_killed_then_hung_calls_still_routed(either_lab: Any, sipp: Any) -> None:
    """The mirrored route (direct, not the default pool) carries calls while the controller is
    dead or hung; the restarted controller resyncs and recovers the records of those calls.
    Routing from the mirror (the default) never asks the controller, so a hung one costs nothing;
    with ``[agi] route_live`` the FastAGI bound cuts the hung controller off, once."""
    lab = either_lab
    live = lab.config.agi.route_live
    p = lab.extra["phones"]
    phone = await sipp("uas_answer", port=p["zhang"], calls=2, keys={"hold_ms": 500}).start()

    lab.signal_controller(signal.SIGKILL)
    r = await citizen(sipp, lab, "05585551001", 5000).run()
    assert r.ok, r.summary()

    lab.start_controller()
    await lab.wait_ready()
    lab.signal_controller(signal.SIGSTOP)
    r2 = await citizen(sipp, lab, "+865585551011", 5000).run()
    assert r2.ok, r2.summary()
    assert await _rung(phone, 2), "the official's phone was not rung for the second call"
    assert r2.response_codes()[:1] in ([100], [180])  # ringback at once, no dead air
    lab.signal_controller(signal.SIGCONT)

    async def both() -> list[dict[str, Any]] | None:
        a = await call_record(lab, "05585551001")
        b = await call_record(lab, "+865585551011")
        return [a, b] if a and b else None
    recs = await eventually(both, timeout=20)
    for rec in recs:
        assert rec["route_source"] == "mirror", rec
        assert (rec["outcome"], rec["answered_by"]) == ("answered", "o-zhang"), rec
    # route_live: the hung controller was cut off by the FastAGI bound: the dialplan's T
    # extension logged it, once (the killed controller refused the connection: straight to the
    # mirror). From the mirror: never asked, nothing to cut off.
    log = lab.asterisk.log_text()
    assert log.count("controller did not answer within 1.5s; using the mirror") == int(live), \
        lab.asterisk.log_tail(60)
    # res_agi's warnings on the killed controller's refused connection name the agi:// URL
    assert ("agi://" in log) == live, lab.asterisk.log_tail(60)


async def _controller_log_count(lab: Any, text: str, n: int) -> bool:
    return lab.controller_log().count(text) >= n


async def _rung(phone: Any, n: int) -> bool:
    text = (phone.workdir / "messages.log").read_text(errors="replace") \
        if (phone.workdir / "messages.log").exists() else ""
    return text.count("INVITE sip:") >= n


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # the API's names, not the locale's


def _hms(t: datetime) -> str:
    return f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}"


def windows(start: datetime, span: timedelta, mode: str, daily: bool = False) -> list[dict[str, str]]:
    """Schedule windows covering [start, start + span) in start's timezone (local wall time),
    split at local midnight when they cross it: the test runs at any hour, in any locale."""
    out = []
    t, end = start, start + span
    while t < end:
        midnight = datetime.combine(t.date() + timedelta(days=1), datetime.min.time(), t.tzinfo)
        stop = min(end, midnight)
        out.append({"days": "daily" if daily else DAYS[t.weekday()], "start": _hms(t),
                    "end": "24:00" if stop == midnight else _hms(stop), "mode": mode})
        t = stop
    return out


def test_windows_split_at_local_midnight() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    late = datetime(2026, 11, 29, 23, 59, 57, tzinfo=tz)  # a Sunday
    assert windows(late, timedelta(hours=1), "pool") == [
        {"days": "sun", "start": "23:59:57", "end": "24:00", "mode": "pool"},
        {"days": "mon", "start": "00:00:00", "end": "00:59:57", "mode": "pool"}]
    noon = datetime(2026, 11, 25, 12, 0, 4, tzinfo=tz)  # a Wednesday
    assert windows(noon, timedelta(hours=1), "voicemail", daily=True) == [
        {"days": "daily", "start": "12:00:04", "end": "13:00:04", "mode": "voicemail"}]


async def _until(tz: ZoneInfo, moment: datetime) -> None:
    """Wait until the clock has passed ``moment`` (the observable a schedule window waits on)."""
    await eventually(lambda: _passed(tz, moment), timeout=30, interval=0.05)


async def _passed(tz: ZoneInfo, moment: datetime) -> bool:
    return datetime.now(tz) >= moment


async def test_schedule_window_flips_route_live_and_while_down(lab: Any, sipp: Any) -> None:
    p = lab.extra["phones"]
    await login_operators(lab, "op-1")
    tz = ZoneInfo("Asia/Shanghai")  # the lab directory's timezone
    start = (datetime.now(tz) + timedelta(seconds=4)).replace(microsecond=0)  # windows: whole s
    status, body = await lab.arequest("PUT", "/api/v1/officials/zhang-wei/schedule",
                                      {"windows": windows(start, timedelta(hours=1), "pool"),
                                       "reason": "夜间转话务员"})
    assert status == 200, body
    oid = body["id"]
    assert lab.astdb(f"o/{oid}/effective") == "direct"
    assert lab.astdb(f"o/{oid}/win")  # the windows themselves are mirrored too

    await eventually(lambda: asyncio.to_thread(lambda: lab.astdb(f"o/{oid}/effective") == "pool"),
                     timeout=10, interval=0.1)
    assert datetime.now(tz) >= start  # flipped at the boundary, not before
    operator = await sipp("uas_answer", port=p["op1"], calls=2, keys={"hold_ms": 500}).start()
    r = await citizen(sipp, lab, "05585551001", 5000).run()
    assert r.ok, r.summary()
    await eventually(lambda: _rung(operator, 1), timeout=5, interval=0.05)
    assert len(await _op_invites(operator)) == 1

    # Controller down: a window that starts in a few seconds still takes effect via the mirror.
    start2 = (datetime.now(tz) + timedelta(seconds=5)).replace(microsecond=0)
    status, body = await lab.arequest("PUT", "/api/v1/officials/chen-jing/schedule", {
        "windows": windows(start2, timedelta(hours=1), "voicemail", daily=True),
        "reason": "下班后留言"})
    assert status == 200, body
    lab.signal_controller(signal.SIGKILL)
    before = await citizen(sipp, lab, "05585552001", 2500).run()   # still the pool
    assert before.ok, before.summary()
    await _until(tz, start2 + timedelta(seconds=0.3))
    after = await citizen(sipp, lab, "05585552001", 2500).run()    # now voicemail, via the mirror
    assert after.ok, after.summary()
    lab.start_controller()
    await lab.wait_ready()

    async def two() -> list[dict[str, Any]] | None:
        st, calls = await lab.arequest("GET", "/api/v1/calls?limit=10")
        got = [c for c in calls["items"] if c["number_dialed"] == "05585552001" and c["outcome"]]
        return sorted(got, key=lambda c: c["started_at"]) if len(got) == 2 else None
    first, second = await eventually(two, timeout=20)
    assert (first["route_source"], first["mode"], first["steps"][0]["kind"]) == ("mirror", "pool", "pool")
    assert (second["route_source"], second["mode"], second["steps"][0]["kind"]) == (
        "mirror", "voicemail", "voicemail")


async def _op_invites(operator: Any) -> list[str]:
    text = (operator.workdir / "messages.log").read_text(errors="replace")
    return [line for line in text.splitlines() if line.startswith("INVITE sip:")]


async def test_directory_change_reaches_asterisk_without_touching_calls(lab: Any, sipp: Any) -> None:
    """A new official with a new phone, and a new operator, imported through the API while a
    call is in progress: PJSIP and queues are reloaded, the call goes on, the new ones work."""
    p = lab.extra["phones"]
    new_phone, new_op = ports.free_ports(2)
    official = await sipp("uas_answer", port=p["zhang"], keys={"hold_ms": 8000}).start()
    talking = asyncio.create_task(citizen(sipp, lab, "05585551001", 15000).run())
    await eventually(lambda: _rung(official, 1), timeout=5, interval=0.05)

    addition = f"""
version: 1
operators:
  - {{name: 话务员 周敏, endpoint: op-3, pool: main, static_contact: "sip:op-3@127.0.0.1:{new_op}"}}
officials:
  - slug: qian-hao
    name: 钱浩
    title: 处长
    numbers: ["0558-5559001"]
    devices: [{{sip: o-qian, static_contact: "sip:o-qian@127.0.0.1:{new_phone}"}}]
    mode: direct
    chain: [pool]
    ring_timeout: 5
"""
    status, body = await lab.arequest("POST", "/api/v1/directory/import", text=addition)
    assert status == 200, body
    endpoints = await asyncio.to_thread(lab.asterisk.cli, "pjsip show endpoints")
    assert "o-qian" in endpoints and "op-3" in endpoints
    await login_operators(lab, "op-3")

    phone = await sipp("uas_answer", port=new_phone, keys={"hold_ms": 500}).start()
    r = await citizen(sipp, lab, "05585559001", 5000).run()
    assert r.ok, r.summary()
    assert (await phone.wait(5)).received("INVITE")
    operator = await sipp("uas_answer", port=new_op, keys={"hold_ms": 500}).start()
    r = await citizen(sipp, lab, "05585552001", 5000).run()  # a pooled official: op-3 answers
    assert r.ok, r.summary()
    assert (await operator.wait(5)).received("INVITE")
    first = await talking
    assert first.ok, first.summary()  # the call in progress was not disturbed
    rec = await eventually(lambda: call_record(lab, "05585551001"))
    assert (rec["outcome"], rec["answered_by"]) == ("answered", "o-zhang")
    assert rec["ended_at"] > rec["answered_at"]


async def test_asterisk_restart_controller_reconnects_and_resyncs(lab: Any, sipp: Any) -> None:
    """Asterisk restarts with an empty AstDB (a replaced node): the controller reconnects by
    itself, rewrites the mirror and re-adds the logged-in operators; with the controller then
    killed, calls still follow the mirrored policy."""
    p = lab.extra["phones"]
    await login_operators(lab, "op-1")
    status, body = await lab.arequest("PUT", "/api/v1/operators/op-1/state",
                                      {"state": "paused", "reason": "午休"})
    assert status == 200 and body["state"] == "paused", body
    before = await asyncio.to_thread(lab.health)
    assert before is not None

    tries = lab.controller_log().count("unreachable")
    await asyncio.to_thread(lab.asterisk.stop)
    for f in lab.asterisk.host_path(lab.asterisk.db_dir).glob("astdb*"):
        f.unlink()
    # the controller has noticed and is retrying with backoff meanwhile (its health, its log)
    await eventually(lambda: asyncio.to_thread(lambda: (lab.health() or {}).get("ami") is False),
                     timeout=15, interval=0.1)
    await eventually(lambda: _controller_log_count(lab, "unreachable", tries + 1), timeout=15)
    await asyncio.to_thread(lab.asterisk.start)
    after = await lab.wait_ready(min_resyncs=before["resyncs"] + 1)
    assert after["ami_logins"] == before["ami_logins"] + 1

    queue = await asyncio.to_thread(lab.asterisk.cli, "queue show pool-main")
    assert "PJSIP/op-1" in queue and "paused:午休" in queue.replace(" ", ""), queue
    assert lab.astdb("meta/synced") and lab.astdb("num/05585551001")

    lab.signal_controller(signal.SIGKILL)
    phone = await sipp("uas_answer", port=p["zhang"], keys={"hold_ms": 500}).start()
    r = await citizen(sipp, lab, "05585551001", 5000).run()
    assert r.ok, r.summary()
    assert (await phone.wait(5)).received("INVITE")  # the mirrored direct route, not the pool


async def _journal_has(lab: Any, *parts: str) -> bool:
    path = lab.config.cel_journal
    text = await asyncio.to_thread(lambda: path.read_text(errors="replace") if path.exists() else "")
    return any(all(p in line for p in parts) for line in text.splitlines())


async def test_asterisk_killed_with_a_call_up_records_it_interrupted(lab: Any, sipp: Any) -> None:
    """Asterisk is SIGKILLed while an answered call is up and restarted as systemd would: the
    controller closes that call, once, as ``interrupted``, keeping who answered."""
    p = lab.extra["phones"]
    phone = await sipp("uas_answer", port=p["zhang"], calls=1, keys={"hold_ms": 60000}).start()
    call = await citizen(sipp, lab, "05585551001", 60000).start()
    await eventually(lambda: _channel_in(lab, "PJSIP/o-zhang-", "Up"), timeout=10, interval=0.05)
    # Asterisk has written the answer (what the controller will know of the call)
    await eventually(lambda: _journal_has(lab, '"ANSWER"', "o-zhang"), timeout=10, interval=0.1)
    assert await call_record(lab, "05585551001", outcome=False) is None  # still open: no record
    before = await asyncio.to_thread(lab.health)
    assert before is not None

    await asyncio.to_thread(lab.asterisk.kill)  # SIGKILL: no hang-up, no LINKEDID_END ever
    await eventually(lambda: asyncio.to_thread(lambda: (lab.health() or {}).get("ami") is False),
                     timeout=15, interval=0.1)
    await asyncio.to_thread(lab.asterisk.start)
    await lab.wait_ready(min_resyncs=before["resyncs"] + 1)

    rec = await eventually(lambda: call_record(lab, "05585551001"), timeout=30)
    assert rec["outcome"] == "interrupted", rec
    assert (rec["answered_by"], rec["answered_kind"]) == ("o-zhang", "direct"), rec
    assert rec["answered_at"] and rec["ended_at"] >= rec["answered_at"], rec
    assert [s["kind"] for s in rec["steps"]][:1] == ["direct"], rec
    st, calls = await lab.arequest("GET", "/api/v1/calls?limit=50")
    assert st == 200, calls
    mine = [c for c in calls["items"] if c["number_dialed"] == "05585551001"]
    assert len(mine) == 1, mine
    # a new call on the restarted Asterisk is recorded as usual, not taken for an old one
    await call.stop()
    await phone.stop()
    phone2 = await sipp("uas_answer", port=p["zhang"], calls=1, keys={"hold_ms": 500}).start()
    r = await citizen(sipp, lab, "+865585551011", 3000).run()
    assert r.ok, r.summary()
    assert (await phone2.wait(5)).received("INVITE")
    new = await eventually(lambda: call_record(lab, "+865585551011"), timeout=20)
    assert (new["outcome"], new["answered_by"]) == ("answered", "o-zhang"), new


def _db(lab: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(lab.workdir / "ivr.db", timeout=5) as con:
        con.execute("PRAGMA foreign_keys=ON")
        return con.execute(sql, args).fetchall()


async def test_controller_killed_between_a_record_and_its_case(lab: Any, sipp: Any) -> None:
    """A missed case is not left to an in-memory listener: the controller is SIGKILLed with an
    abandoned call recorded and its case not written (the case row is removed while the
    controller is dead: the state a kill between the two transactions leaves); after the
    restart a supervisor would do, the call has its case, exactly one."""
    p = lab.extra["phones"]
    phone = await sipp("uas_noanswer", port=p["zhang"], timeout=20).start()
    r = await sipp("uac_abandon", remote=lab.sip, local_ip="127.0.0.2", service="05585551001",
                   keys={"ring_ms": 2000}, timeout=20).run()
    assert r.ok, r.summary()
    assert (await phone.wait(10)).received("CANCEL")
    rec = await eventually(lambda: call_record(lab, "05585551001"), timeout=20)
    assert (rec["outcome"], rec["kind"]) == ("abandoned", "citizen"), rec

    async def cases() -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(_db, lab, "SELECT kind FROM cases WHERE call_id = ?",
                                       rec["id"])
    assert await eventually(cases, timeout=10) == [("missed",)]  # the listener, as usual

    lab.signal_controller(signal.SIGKILL)
    assert lab.controller is not None and lab.controller.wait(10) == -signal.SIGKILL
    await asyncio.to_thread(_db, lab, "DELETE FROM cases WHERE call_id = ?", rec["id"])
    assert await cases() == []
    lab.start_controller()
    await lab.wait_ready()
    assert await eventually(cases, timeout=30) == [("missed",)]
    assert "follow-up sweep: 1 missed cases opened" in lab.controller_log()
    st, listing = await lab.arequest("GET", "/api/v1/cases?kind=missed")
    assert st == 200, listing
    assert [c["call_id"] for c in listing["items"]].count(rec["id"]) == 1, listing
