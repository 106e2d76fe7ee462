"""A city day on real Asterisk with real SIP calls (sipp): 120 calls from a seeded plan over a
directory of officials (direct with deputy, pool and voicemail fallbacks; pool-first; deputy-
first; voicemail-first), five pools (answering, ringing out, closed) and six operators, placed up
to CONCURRENCY at once.

The plan is the ground truth. Each call draws which phones answer, are busy or ring out (the
caller ID carries the draw, read by the phones' scenario uas_draw.xml) and what the caller does:
talks, hangs up while it rings or while queued, hears the closing message out or hangs up during
it, leaves a message or hangs up during the greeting. A few callers send hostile caller IDs
(full-width digits, CR LF). Every record — exactly one per call: outcome, each step's kind and
result, who answered (role, device), when the caller abandoned, the caller ID as received — is
compared with the plan; who answered also with what the callees' sipp phones logged. Nothing is
taken from the API or the fold as truth.

Timing is never close: a caller hangs up at least 2.8 s from any boundary (a step's start or
end, the message's or the greeting's end), and a pool that answers takes one call at a time (its
callers wait their turn before dialling), so who answers never depends on a race.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.outcome_helpers import Planned, callee_calls, finished_records, ready_operators, seen
from tests.e2e.routing_helpers import routing_lab, tone_ulaw

pytestmark = pytest.mark.e2e

SEED = 20260603
CALLS = 120
CONCURRENCY = 14
DRAW = "uas_draw.xml"  # a phone that answers (1), is busy (2) or rings out (3) as the caller ID says
DIGIT = {"1": "answer", "2": "busy", "3": "ringout"}
# the default greeting + the beep (espeak-ng), seconds; the closing message lasts 5.8 (en), 8.4 (zh)
GREETING_SECS = {"en": 12.0, "zh": 13.8}


@dataclass(frozen=True)
class Pool:
    strategy: str
    max_wait: int
    operators: tuple[tuple[str, str], ...]  # (endpoint, answer / ringout / off: logged out)

    def does(self) -> str:
        states = {what for _, what in self.operators}
        return "answer" if "answer" in states else "ringout" if "ringout" in states else "off"


POOLS = {
    "hall": Pool("ringall", 8, (("op-hall", "answer"),)),
    "desk": Pool("leastrecent", 8, (("op-desk", "answer"),)),
    "night": Pool("ringall", 5, (("op-n1", "ringout"), ("op-n2", "ringout"))),
    "hotline": Pool("ringall", 12, (("op-hot", "ringout"),)),
    "closed": Pool("ringall", 5, (("op-off", "off"),)),
}


@dataclass(frozen=True)
class Official:
    slug: str
    name: str
    number: str
    route: tuple[str, ...]  # the route plan's step kinds: the mode first; "message" closes
    weight: int  # how often the city calls this official
    pool: str = "night"
    ring: int = 5
    deputy: str | None = None
    language: str = "en"
    digit: int | None = 0  # the draw digit its phone reads (0 official, 1 deputy); None: no phone


OFFICIALS = {o.slug: o for o in (
    Official("zhang", "张伟", "05585557001", ("direct", "pool", "message"), 12, "hall", ring=8),
    Official("li", "李强", "05585557002", ("direct", "pool", "message"), 12, "hotline"),
    Official("chen", "陈静", "05585557003", ("direct", "deputy", "voicemail"), 12, ring=8,
             deputy="zhou"),
    Official("zhao", "赵磊", "05585557004", ("direct", "pool", "voicemail"), 8, "closed",
             language="zh"),
    Official("sun", "孙丽", "05585557005", ("direct", "pool", "message"), 10, "desk"),
    Official("liu", "刘洋", "05585557006", ("pool", "message"), 10, "hotline", digit=None),
    Official("huang", "黄敏", "05585557007", ("pool", "message"), 8, "desk", digit=None),
    Official("wu", "吴刚", "05585557008", ("pool", "voicemail"), 8, digit=None),
    Official("xu", "徐芳", "05585557009", ("voicemail",), 10, digit=None),
    Official("ma", "马超", "05585557010", ("direct", "voicemail"), 8, language="zh"),
    Official("zhou", "周军", "05585557011", ("direct", "pool", "message"), 6, "hall", digit=1),
    Official("guo", "郭华", "05585557012", ("deputy", "pool", "message"), 8, ring=8,
             deputy="zhou", digit=None),
)}
UNPUBLISHED = ("05585559901", "05585559902")  # refused
ROLE = {"direct": "official", "deputy": "deputy", "pool": "operator"}
PHONES = tuple(o.slug for o in OFFICIALS.values() if o.digit is not None) + tuple(
    ep.replace("-", "_") for p in POOLS.values() for ep, _ in p.operators)


def directory() -> str:
    """The directory YAML; ``{phone}`` placeholders are the sipp phones' ports."""
    lines = ["version: 1", "settings:", "  timezone: Asia/Shanghai", "  default_chain: [pool]",
             "pools:"]
    for n, p in POOLS.items():
        lines += [f"  - name: {n}", f"    strategy: {p.strategy}", f"    max_wait: {p.max_wait}"]
    lines.append("operators:")
    for n, p in POOLS.items():
        for i, (ep, _) in enumerate(p.operators):
            lines += [f"  - name: 话务员 {n} {i + 1}", f"    endpoint: {ep}", f"    pool: {n}",
                      f'    static_contact: "sip:{ep}@127.0.0.1:{{{ep.replace("-", "_")}}}"']
    lines.append("officials:")
    for o in OFFICIALS.values():
        chain = ", ".join(k for k in o.route if k != "message")
        lines += [f"  - slug: {o.slug}", f"    name: {o.name}", f"    language: {o.language}",
                  f'    numbers: ["{o.number}"]', f"    mode: {o.route[0]}",
                  f"    chain: [{chain}]", f"    pool: {o.pool}", f"    ring_timeout: {o.ring}"]
        if o.deputy:
            lines.append(f"    deputy: {o.deputy}")
        if o.digit is not None:
            lines += ["    devices:", f"      - sip: o-{o.slug}",
                      f'        static_contact: "sip:o-{o.slug}@127.0.0.1:{{{o.slug}}}"']
    return "\n".join(lines) + "\n"


def phone_does(o: Official, passed: str) -> str:
    """What ``o``'s phone does (uas_draw.xml) with the caller ID Asterisk passes on: the draw
    digit after "139"; without one (a caller ID that is not 139…), it answers."""
    m = re.match(r"139(\d)(\d)", passed)
    return DIGIT.get(m.group(1 + o.digit), "answer") if m and o.digit is not None else "answer"


@dataclass
class Walk:
    """The route as far as the phones and pools take it, before the caller's choice."""
    steps: list[tuple[str, str]]
    rings: list[tuple[str, str]]
    answered: tuple[str | None, str | None] = (None, None)
    final: str = ""  # message or voicemail: reached unanswered
    waits_in: str | None = None
    lock: str | None = None


def walk(o: Official, passed: str) -> Walk:
    w = Walk([], [])
    for kind in o.route:
        if kind in ("direct", "deputy"):
            phone = o if kind == "direct" else OFFICIALS[str(o.deputy)]
            did = phone_does(phone, passed)
            w.rings.append((f"o-{phone.slug}", did))
            if did == "answer":
                w.steps.append((kind, "ANSWER"))
                w.answered = (ROLE[kind], f"o-{phone.slug}")
                return w
            w.steps.append((kind, "BUSY" if did == "busy" else "NOANSWER"))
        elif kind == "pool":
            pool = POOLS[o.pool]
            if pool.does() == "answer":
                op = next(ep for ep, what in pool.operators if what == "answer")
                w.steps.append(("pool", "ANSWER"))
                w.rings.append((op, "answer"))
                w.answered, w.lock = ("operator", op), o.pool
                return w
            if pool.does() == "ringout":
                w.waits_in = o.pool
            w.steps.append(("pool", "TIMEOUT" if pool.does() == "ringout" else "JOINEMPTY"))
        else:
            w.final = kind
            return w
    raise AssertionError(f"{o.slug}: a route ends with a message or voicemail")


# Hostile caller IDs, built from the call's own number (none adds a digit): full-width digits,
# CR LF with header lines, a blank line. Sent URI-escaped; PJSIP decodes them.
def _wide(digits: str) -> str:
    return "".join(chr(0xFF10 + int(c)) for c in digits)


HOSTILE = (lambda n: _wide(n[:5]) + n[5:],
           lambda n: n + "\r\nEvent: CEL\r\nUserDefType: IVR_CALL",
           lambda n: n + "\r\nLinkedID: x\r\n\r\n",
           lambda n: _wide(n) + "\r\nExtra: x")
INSTANT = ("BUSY", "JOINEMPTY")  # step results that come at once
FINAL = {"hear": ("message", "PLAYED", "missed"), "cut": ("message", "CUT", "missed"),
         "leave": ("voicemail", "RECORDED", "voicemail"),
         "greeting": ("voicemail", "CUT", "missed")}


@dataclass(frozen=True)
class CityCall:
    plan: Planned
    does: str  # talk, abandon, hear (the message out), cut (the message), leave, greeting, refused
    sent: str  # the From user sipp sends (URI-escaped)
    passed: str  # the caller ID Asterisk passes on to the phones: its ASCII digits and +
    language: str = "en"
    rings: tuple[tuple[str, str], ...] = ()  # (device, what it does) of each phone it rings
    waits_in: str | None = None  # a pool that rings out, where the caller waits
    lock: str | None = None  # the answering pool it reaches: one call at a time

    def caller_sipp(self, sipp: Any, lab: Any, tone: Path) -> Any:
        ip = {"remote": lab.sip, "local_ip": "127.0.0.2", "service": self.plan.number}
        if self.does == "refused":
            return sipp("uac_expect_fail", keys={"caller": self.sent}, **ip)
        if self.does == "abandon":  # 3.5 s after the last 180 Ringing (see city_day)
            return sipp("uac_abandon", keys={"caller": self.sent, "ring_ms": 3500}, **ip)
        keys: dict[str, object] = {"caller": self.sent, "hold_ms": {
            "talk": 2000, "hear": 40000, "cut": 3000, "greeting": 4000}.get(self.does, 0)}
        if self.does == "leave":  # speaks through the greeting and 5 s after the beep
            keys.update(hold_ms=1000 * (GREETING_SECS[self.language] + 5), play=1,
                        audio=str(tone))
        return sipp("uac_call", keys=keys, timeout=90, **ip)


def city_day(seed: int = SEED) -> list[CityCall]:
    """The day's calls in order of arrival: seeded draws of the official called, the caller's
    phone draws (answer 45 %, busy 25 %, rings out 30 %) and what the caller does."""
    rng = random.Random(seed)
    targets: list[Official | None] = [*OFFICIALS.values(), None]  # None: an unpublished number
    weights = [o.weight for o in OFFICIALS.values()] + [3]
    calls = []
    for i in range(1, CALLS + 1):
        o = rng.choices(targets, weights)[0]
        n = f"139{''.join(rng.choices('123', weights=(45, 25, 30), k=2))}{i:06d}"
        original = HOSTILE[i // 30 % 4](n) if i % 30 == 7 else n
        passed = "".join(c for c in original if c in "0123456789+")[:20]
        raw = original.replace("\r", "\\r").replace("\n", "\\n")
        who = {"caller": n, "caller_raw": raw, "altered": original != n}
        sent = "".join(c if c.isascii() and c.isalnum() else
                       "".join(f"%{b:02X}" for b in c.encode()) for c in original)
        if o is None:
            number = UNPUBLISHED[i % len(UNPUBLISHED)]
            calls.append(CityCall(Planned(number, outcome="refused", steps=[], **who),
                                  "refused", sent, passed))
            continue
        w = walk(o, passed)
        # the caller may hang up 3.5 s into the first step that rings or queues (only busy
        # phones and closed pools before it: they end at once) when it lasts 8 s or more
        k = next((j for j, (_, result) in enumerate(w.steps) if result not in INSTANT), None)
        can_abandon = k is not None and w.steps[k][1] in ("NOANSWER", "TIMEOUT") and (
            o.ring if w.steps[k][0] != "pool" else POOLS[o.pool].max_wait) >= 8
        options = {"abandon": 4} if can_abandon else {}
        if w.answered != (None, None):
            options["talk"] = 6
        else:
            options.update({"hear": 3, "cut": 3} if w.final == "message" else
                           {"leave": 4, "greeting": 3})
        does = rng.choices(list(options), list(options.values()))[0]
        common = {"sent": sent, "passed": passed, "language": o.language}
        if does == "talk":
            plan = Planned(o.number, outcome="answered", steps=w.steps, answered=w.answered,
                           **who)
            calls.append(CityCall(plan, does, rings=tuple(w.rings), lock=w.lock, **common))
        elif does == "abandon":
            assert k is not None
            kind, steps = w.steps[k][0], [*w.steps[:k], (w.steps[k][0], "CANCEL")]
            plan = Planned(o.number, outcome="abandoned", steps=steps,
                           abandoned_during="queued" if kind == "pool" else "ringing", **who)
            rang = sum(s in ("direct", "deputy") for s, _ in steps)  # the phones it rang
            calls.append(CityCall(plan, does, rings=tuple(w.rings[:rang]),
                                  waits_in=w.waits_in if kind == "pool" else None, **common))
        else:
            kind, result, outcome = FINAL[does]
            assert kind == w.final, (o.slug, does)
            plan = Planned(o.number, outcome=outcome, steps=[*w.steps, (kind, result)], **who)
            calls.append(CityCall(plan, does, rings=tuple(w.rings), waits_in=w.waits_in,
                                  **common))
    return calls


def check_mix(plan: list[CityCall]) -> None:
    """The seed gives a real mix: every step result, outcome and role the day should show."""
    steps = {s for c in plan for s in c.plan.steps}
    want = {(k, r) for k in ("direct", "deputy") for r in ("ANSWER", "BUSY", "NOANSWER", "CANCEL")}
    want |= {("pool", r) for r in ("ANSWER", "TIMEOUT", "JOINEMPTY", "CANCEL")}
    want |= {("message", "PLAYED"), ("message", "CUT"), ("voicemail", "RECORDED"),
             ("voicemail", "CUT")}
    assert want <= steps, want - steps
    assert {c.plan.outcome for c in plan} == {"answered", "voicemail", "missed", "abandoned",
                                              "refused"}
    assert {c.plan.answered[0] for c in plan} == {None, "official", "deputy", "operator"}
    assert {c.plan.abandoned_during for c in plan} == {None, "ringing", "queued"}
    assert {c.plan.abandoned_during for c in plan if len(c.plan.steps) > 1} == {
        None, "ringing", "queued"}  # after a busy phone too
    assert sum(c.plan.altered for c in plan) == 4


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab", directory(), PHONES,
                                        voicemail={"workers": 1}):
        yield deployment


async def start_phones(lab: Any, sipp: Any) -> dict[str, Any]:
    """Every phone of the day, by device: officials' (uas_draw.xml), operators' (answer or
    ring out)."""
    p = lab.extra["phones"]
    draw = Path(__file__).parent / "scenarios" / DRAW
    day = {"calls": 1000, "limit": 100, "timeout": 900}  # on until stopped, calls at once
    phones = {}
    for o in OFFICIALS.values():
        if o.digit is not None:
            phones[f"o-{o.slug}"] = await sipp(draw, port=p[o.slug], **day, keys={
                "skip": "[0-9]" * o.digit, "hold_ms": 30000}).start()
    for pool in POOLS.values():
        for ep, what in pool.operators:
            if what != "off":
                phones[ep] = await sipp(f"uas_{'answer' if what == 'answer' else 'noanswer'}",
                                        port=p[ep.replace("-", "_")], **day,
                                        keys={"hold_ms": 30000} if what == "answer" else {}
                                        ).start()
    return phones


async def test_a_city_day(lab: Any, sipp: Any, tmp_path: Path) -> None:
    plan = city_day()
    check_mix(plan)
    await ready_operators(lab, {ep: f"pool-{n}" for n, pool in POOLS.items()
                                for ep, what in pool.operators if what != "off"})
    phones = await start_phones(lab, sipp)
    tone = tone_ulaw(tmp_path / "tone.ul", 25)
    slots = asyncio.Semaphore(CONCURRENCY)
    locks = {n: asyncio.Lock() for n in POOLS}

    async def place(call: CityCall) -> Any:
        async with locks[call.lock] if call.lock else contextlib.nullcontext():
            async with slots:
                return await call.caller_sipp(sipp, lab, tone).run()
    results = await asyncio.gather(*(place(c) for c in plan))

    problems = []
    # the callers' side
    for call, r in zip(plan, results, strict=True):
        hung_up_on = bool(r.received("BYE"))
        if not r.ok or (call.does == "refused" and 404 not in r.response_codes()) or \
                hung_up_on != (call.does == "hear"):
            problems.append(f"caller {call.plan.caller} ({call.does}): {r.summary()}")
    # the callees' side: every phone did what the plan drew, for exactly the planned calls
    logs = {}
    for device, phone in phones.items():
        await phone.stop()
        logs[device] = callee_calls(await phone.wait(10))
    for device, got in logs.items():
        pool = next((n for n, p in POOLS.items() if (device, "ringout") in p.operators), None)
        if pool:  # rings out for some of the callers waiting in its pool, never answers
            waiting = {c.passed for c in plan if c.waits_in == pool}
            wrong = [(c.caller, c.did) for c in got if c.did != "ringout" or c.caller not in waiting]
            if wrong:
                problems.append(f"{device}: calls not planned {wrong}")
            continue
        want = Counter((c.passed, did) for c in plan for d, did in c.rings if d == device)
        have = Counter((c.caller, c.did) for c in got)
        if have != want:
            problems.append(f"{device}: phone saw {sorted((have - want).elements())}, "
                            f"missing {sorted((want - have).elements())}")
    # the records: exactly one per call, as planned
    records = await finished_records(lab, len(plan), timeout=60)
    planned = {c.plan.caller for c in plan}
    for call in plan:
        recs = records.get(call.plan.caller, [])
        if len(recs) != 1:
            problems.append(f"{call.plan.number} caller {call.plan.caller} ({call.does}): "
                            f"{len(recs)} records")
            continue
        rec = recs[0]
        if seen(rec) != call.plan.want():
            problems.append(f"{call.plan.number} caller {call.plan.caller} ({call.does}): "
                            f"planned {call.plan.want()}\n    recorded {seen(rec)}")
        secs = rec["voicemail_secs"]
        if (secs is not None and secs >= 1.0) != (call.plan.outcome == "voicemail"):
            problems.append(f"caller {call.plan.caller} ({call.does}): voicemail_secs {secs}")
    for caller in set(records) - planned:
        problems.append(f"a record of no planned call: {records[caller]}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
