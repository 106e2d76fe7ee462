"""Callers waiting in a pool hear their place in the queue, in Mandarin (issue 15): real Asterisk,
sipp, the controller stopped (SIGSTOP) while the calls come in — the announcements are rendered
config (queues.conf, say.conf) and prompts, nothing is asked live.

The pool's only operator takes caller A; B waits (position 1: 您是下一位), C waits behind B
(position 2: 您现在排在第 | 二 | 位), D behind C (position 3) hangs up in the middle of its
announcement; E, calling an English-speaking official of the same pool, hears position 3 in
English. What each caller heard is read from Asterisk's own log: the file each channel
played (``Playing '<file>' (language 'zh')``) and app_queue's ``Told <channel> … (which was N)``.
A (an operator free) hears nothing. Every record is written once the controller runs again; D's
says abandoned, while queued.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.outcome_helpers import Planned, finished_records, ready_operators, seen
from tests.e2e.routing_helpers import eventually, routing_lab

pytestmark = pytest.mark.e2e

DIRECTORY = """
version: 1
settings: {{timezone: Asia/Shanghai, default_chain: [pool]}}
pools:
  - {{name: main, strategy: leastrecent, max_wait: 60,
     announce: {{position: yes, holdtime: yes, every: 15}}}}
operators:
  - {{name: 话务员 王芳, endpoint: op-1, pool: main, static_contact: "sip:op-1@127.0.0.1:{op1}"}}
officials:
  - {{slug: chen-jing, name: 陈静, numbers: ["0558-5552001"], mode: pool, chain: [pool],
     pool: main}}
  - {{slug: ann-lee, name: Ann Lee, language: en, numbers: ["0558-5552002"], mode: pool,
     chain: [pool], pool: main}}
"""
NUMBER = "05585552001"
ENGLISH = "05585552002"  # an official whose calls are in English: the same pool
_PLAYING = re.compile(r"<(PJSIP/carrier-[0-9a-f]+)> Playing '([^']+)' \(language '([^']*)'\)")
_TOLD = re.compile(r"Told (PJSIP/carrier-[0-9a-f]+) in pool-main their queue position "
                   r"\(which was (\d+)\)")


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab", DIRECTORY, ("op1",)):
        yield deployment


def console(lab: Any) -> str:
    """Asterisk's verbose messages: a log channel the test added (the rendered logger.conf
    keeps notices and worse only)."""
    out = lab.asterisk.host_path(lab.asterisk.log_dir / "announce-verbose.log")
    return out.read_text(errors="replace") if out.exists() else ""


def heard(lab: Any) -> dict[str, list[tuple[str, str]]]:
    """Each caller channel's played files (name without folder and format, language)."""
    out: dict[str, list[tuple[str, str]]] = {}
    for chan, path, lang in _PLAYING.findall(console(lab)):
        out.setdefault(chan, []).append((path.rsplit("/", 1)[-1].rsplit(".", 1)[0], lang))
    return out


def told(lab: Any) -> dict[int, str]:
    """Position told → the channel it was told to."""
    return {int(pos): chan for chan, pos in _TOLD.findall(console(lab))}


async def queue_show(lab: Any) -> str:
    return str(await asyncio.to_thread(lab.asterisk.cli, "queue show pool-main"))


async def test_waiting_callers_hear_their_place_in_mandarin(lab: Any, sipp: Any) -> None:
    p = lab.extra["phones"]
    await ready_operators(lab, {"op-1": "pool-main"})
    await asyncio.to_thread(lab.asterisk.cli, "logger add channel announce-verbose.log verbose")
    await sipp("uas_answer", port=p["op1"], keys={"hold_ms": 60000}).start()
    ip = {"remote": lab.sip, "local_ip": "127.0.0.2", "service": NUMBER}
    lab.signal_controller(signal.SIGSTOP)
    try:
        # A talks until B and C have hung up (else the free operator would take B)
        a = await sipp("uac_call", keys={"hold_ms": 40000, "caller": "13900000001"},
                       timeout=70, **ip).start()

        async def operator_busy() -> bool:
            return "(In use)" in await queue_show(lab)
        await eventually(operator_busy, timeout=15)
        b = await sipp("uac_abandon", keys={"ring_ms": 25000, "caller": "13900000002"},
                       timeout=60, **ip).start()
        # B is told it is next once its announcement ends; then C joins behind it
        async def told_position(n: int) -> bool:
            return n in told(lab)
        await eventually(lambda: told_position(1), timeout=15)
        c = await sipp("uac_abandon", keys={"ring_ms": 20000, "caller": "13900000003"},
                       timeout=60, **ip).start()
        await eventually(lambda: told_position(2), timeout=15)
        # D hangs up 1 s after its 183, in the first part of its 2.7 s announcement
        d = await sipp("uac_abandon", keys={"ring_ms": 1000, "caller": "13900000004"},
                       timeout=60, **ip).run()
        assert d.ok, d.summary()
        # E calls the English number: position 3 again (D has left), in English
        e = await sipp("uac_abandon", keys={"ring_ms": 5000, "caller": "13900000005"},
                       timeout=60, **{**ip, "service": ENGLISH}).start()
        await eventually(lambda: told_position(3), timeout=15)
        res_e = await e.wait(60)
        assert res_e.ok, res_e.summary()
        for s in (b, c):
            res = await s.wait(60)
            assert res.ok, res.summary()
        res_a = await a.wait(70)
        assert res_a.ok, res_a.summary()
    finally:
        lab.signal_controller(signal.SIGCONT)

    positions = told(lab)
    files = heard(lab)
    chan_b, chan_c = positions[1], positions[2]
    # position 1: 您是下一位 (the Mandarin file: the channel's language is the call's, zh)
    assert files[chan_b][0] == ("ivr-queue-next", "zh"), files[chan_b]
    # position 2: 您现在排在第 | 二 | 位 — the number from say.conf, our own prompt
    assert files[chan_c][:3] == [("ivr-queue-position", "zh"), ("ivr-num-2", "zh"),
                                 ("ivr-queue-calls", "zh")], files[chan_c]
    # D: its announcement began (position 3), and D hung up before app_queue finished it
    # E: the same pool, the same queues.conf, English prompts (the channel's language)
    chan_e = positions[3]
    assert files[chan_e][:3] == [("ivr-queue-position", "en"), ("ivr-num-3", "en"),
                                 ("ivr-queue-calls", "en")], files[chan_e]
    others = [ch for ch in files if ch not in (chan_b, chan_c, chan_e)]
    assert len(others) == 1, files
    chan_d = others[0]
    want_d = [("ivr-queue-position", "zh"), ("ivr-num-3", "zh"), ("ivr-queue-calls", "zh")]
    assert files[chan_d] and files[chan_d] == want_d[:len(files[chan_d])], files[chan_d]
    assert chan_d not in positions.values(), positions
    # nothing asked for a sound that is missing (a prompt not synthesised, a path unresolved)
    text = console(lab) + lab.asterisk.log_text()
    assert "does not exist in any format" not in text and "Unable to play" not in text

    records = await finished_records(lab, 5, timeout=30)
    want = {
        "13900000001": Planned(NUMBER, "13900000001", "answered", [("pool", "ANSWER")],
                               ("operator", "op-1")),
        "13900000002": Planned(NUMBER, "13900000002", "abandoned", [("pool", "CANCEL")],
                               abandoned_during="queued"),
        "13900000003": Planned(NUMBER, "13900000003", "abandoned", [("pool", "CANCEL")],
                               abandoned_during="queued"),
        "13900000004": Planned(NUMBER, "13900000004", "abandoned", [("pool", "CANCEL")],
                               abandoned_during="queued"),
        "13900000005": Planned(ENGLISH, "13900000005", "abandoned", [("pool", "CANCEL")],
                               abandoned_during="queued"),
    }
    for caller, plan in want.items():
        assert len(records.get(caller, [])) == 1, records
        assert seen(records[caller][0]) == plan.want(), records[caller][0]
