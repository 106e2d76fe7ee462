"""Shared pieces of the outcome tests (test_outcomes, test_city_day): a planned call, its record
as the test compares it, the finished records by caller, ready operators, and what a callee's
sipp phone did with each call it got. The plan is the ground truth; the API only the thing
checked."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.lab.sipp import SippResult
from tests.e2e.routing_helpers import eventually


@dataclass(frozen=True)
class Planned:
    """What a call's record must say, from the test's own plan."""
    number: str
    caller: str  # the record's caller: digits (full-width folded) and a leading +
    outcome: str
    steps: list[tuple[str, str]]  # each step's (kind, result)
    answered: tuple[str | None, str | None] = (None, None)  # (role, device)
    abandoned_during: str | None = None
    kind: str = "citizen"
    caller_raw: str | None = None  # the escaped original; None: the caller itself
    altered: bool = False

    def want(self) -> dict[str, Any]:
        return {"number": self.number, "outcome": self.outcome, "steps": self.steps,
                "answered": self.answered, "abandoned_during": self.abandoned_during,
                "kind": self.kind, "caller_raw": self.caller_raw or self.caller,
                "altered": self.altered}


def seen(rec: Mapping[str, Any]) -> dict[str, Any]:
    """A call record reduced to what :meth:`Planned.want` says."""
    return {"number": rec["number_dialed"], "outcome": rec["outcome"],
            "steps": [(s["kind"], s["result"]) for s in rec["steps"]],
            "answered": (rec["answered_role"], rec["answered_by"]),
            "abandoned_during": rec["abandoned_during"], "kind": rec["kind"],
            "caller_raw": rec["caller_raw"], "altered": rec["caller_altered"]}


async def finished_records(lab: Any, count: int, timeout: float = 30) -> dict[str, list[dict[str, Any]]]:
    """Every call record by caller, once at least ``count`` have an outcome and none is open,
    or as they are after ``timeout`` seconds (the caller compares them with its plan)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = await lab.arequest("GET", "/api/v1/calls?limit=1000")
        assert status == 200, body
        items = body["items"]
        if len(items) >= count and all(c["outcome"] for c in items) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    out: dict[str, list[dict[str, Any]]] = {}
    for c in items:
        out.setdefault(c["caller"], []).append(c)
    return out


async def ready_operators(lab: Any, queues: Mapping[str, str]) -> None:
    """Each operator endpoint → its pool's queue: made ready, then seen in the queue."""
    for endpoint, queue in queues.items():
        status, body = await lab.arequest("PUT", f"/api/v1/operators/{endpoint}/state",
                                          {"state": "ready"})
        assert status == 200, body

        async def member(endpoint: str = endpoint, queue: str = queue) -> bool:
            return f"PJSIP/{endpoint}" in await asyncio.to_thread(lab.asterisk.cli,
                                                                  f"queue show {queue}")
        await eventually(member, timeout=10)


@dataclass
class CalleeCall:
    caller: str  # the From user Asterisk sent (the sanitised caller ID)
    sent: list[str] = field(default_factory=list)  # first lines, in order
    received: list[str] = field(default_factory=list)

    @property
    def did(self) -> str:
        """ringout (rang until a CANCEL), busy (486) or answer (200)."""
        if any(line.startswith("CANCEL") for line in self.received):
            return "ringout"
        if any(line.startswith("SIP/2.0 486") for line in self.sent):
            return "busy"
        if any(line.startswith("SIP/2.0 200") for line in self.sent):
            return "answer"
        return "?"


_BLOCK = re.compile(r"(?m)^-{10,} [^\n]*\n")


def callee_calls(result: SippResult) -> list[CalleeCall]:
    """The calls a callee's sipp phone got (one per INVITE Call-ID), from its message log."""
    calls: dict[str, CalleeCall] = {}
    for block in _BLOCK.split(result.messages.replace("\r\n", "\n")):
        head, _, body = block.partition("\n")
        msg = body.lstrip("\n")
        call_id = result.header(msg, "Call-ID")
        if not call_id or not ("received" in head or "sent" in head):
            continue
        first = msg.partition("\n")[0]
        if first.startswith("INVITE ") and call_id not in calls:
            m = re.search(r"<sip:([^@>]*)@", result.header(msg, "From") or "")
            calls[call_id] = CalleeCall(m.group(1) if m else "")
        if call_id in calls:
            (calls[call_id].received if "received" in head else calls[call_id].sent).append(first)
    return list(calls.values())
