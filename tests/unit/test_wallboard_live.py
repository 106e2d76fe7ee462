"""The wallboard's "in progress" count is the live calls — queued, ringing, talking — from the
events the wallboard already follows (AMI queue and agent events, the recorder's live folds),
not the stored call rows (a call is stored once it is over). Through the real app: AMI-shaped
events into its live hub, read on /wallboard and pushed on /wallboard/events while the caller
is still queued."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from ivr.accounts import services as accounts
from ivr.calls.fold import CallView
from ivr.db.models import Call
from ivr.http.keys import DB
from ivr.pool.live import HUB
from tests.unit.test_web_authz import Env, env  # noqa: F401


async def _cookies(e: Env) -> dict[str, str]:
    db = e.app[DB]
    user = next(u for u in await accounts.list_users(db) if u.username == "u-supervisor")
    key, _ = await accounts.open_session(db, user.id)
    return {"ivr_session": key}


async def _in_progress(e: Env) -> int:
    e.client.session.cookie_jar.clear()
    html = await (await e.client.get("/wallboard", cookies=await _cookies(e))).text()
    m = re.search(r'data-outcome="in_progress"><span class="wb-n">(\d+)<', html)
    assert m, html[:3000]
    return int(m.group(1))


def _queue(event: str, uid: str, linkedid: str) -> dict[str, str]:
    return {"Event": event, "Queue": "pool-main", "Uniqueid": uid, "Linkedid": linkedid,
            "Timestamp": f"{datetime.now(UTC).timestamp():.6f}", "CallerIDNum": "13900000001"}


def _agent(event: str, linkedid: str) -> dict[str, str]:
    return {"Event": event, "Queue": "pool-main", "Interface": "PJSIP/op-1",
            "Uniqueid": "1700000000.1", "Linkedid": linkedid, "CallerIDNum": "13900000001",
            "Timestamp": f"{datetime.now(UTC).timestamp():.6f}"}


async def test_in_progress_counts_live_calls_once(env: Env) -> None:  # noqa: F811
    hub = env.app[HUB]
    assert await _in_progress(env) == 0
    # a caller queued (no call row yet): in progress
    hub.on_queue_event(_queue("QueueCallerJoin", "1700000000.1", "1700000000.1"))
    assert await _in_progress(env) == 1
    # an operator rings, answers: the same call, once
    hub.on_agent_event(_agent("AgentCalled", "1700000000.1"))
    hub.on_queue_event(_queue("QueueCallerLeave", "1700000000.1", "1700000000.1"))
    hub.on_agent_event(_agent("AgentConnect", "1700000000.1"))
    assert await _in_progress(env) == 1
    # another citizen ringing an official (the recorder's live fold, no outcome yet)
    hub.on_view(CallView(linkedid="1700000000.9", kind="citizen",
                         started_at=datetime.now(UTC)))
    # and a callback going on is not a citizen's call
    hub.on_view(CallView(linkedid="ivrcb-7", kind="callback", started_at=datetime.now(UTC)))
    assert await _in_progress(env) == 2
    # the first call ends: its record arrives with an outcome, the agent is done
    hub.on_agent_event(_agent("AgentComplete", "1700000000.1"))
    hub.on_view(CallView(linkedid="1700000000.1", kind="citizen", outcome="answered",
                         started_at=datetime.now(UTC)))
    assert await _in_progress(env) == 1
    # a caller who hangs up while an operator's phone rings: no agent event ends the ringing,
    # the record (an outcome) does; a late live fold does not bring it back
    hub.on_queue_event(_queue("QueueCallerJoin", "1700000002.1", "1700000002.1"))
    hub.on_agent_event(_agent("AgentCalled", "1700000002.1"))
    hub.on_queue_event(_queue("QueueCallerAbandon", "1700000002.1", "1700000002.1"))
    assert await _in_progress(env) == 2
    hub.on_view(CallView(linkedid="1700000002.1", kind="citizen", outcome="abandoned",
                         started_at=datetime.now(UTC)))
    hub.on_view(CallView(linkedid="1700000002.1", kind="citizen", started_at=datetime.now(UTC)))
    assert await _in_progress(env) == 1
    # a stored call without an outcome that is also live: once
    async with env.app[DB]() as s, s.begin():
        s.add(Call(linkedid="1700000000.9", kind="citizen", started_at=datetime.now(UTC)))
    assert await _in_progress(env) == 1
    hub.on_view(CallView(linkedid="1700000000.9", kind="citizen", outcome="missed",
                         started_at=datetime.now(UTC)))
    assert await _in_progress(env) == 1  # the stored row still has none: still counted


async def test_a_queued_caller_is_pushed_to_the_wallboard(env: Env) -> None:  # noqa: F811
    hub = env.app[HUB]
    env.client.session.cookie_jar.clear()
    async with env.client.get("/wallboard/events", cookies=await _cookies(env)) as r:
        assert r.status == 200

        async def board() -> dict[str, object]:
            event = ""
            while True:
                line = (await r.content.readline()).decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[len("event: "):]
                elif line.startswith("data: ") and event == "board":
                    return dict(json.loads(line[len("data: "):]))
        first = await board()
        assert first["today"]["in_progress"] == 0  # type: ignore[index]
        hub.on_queue_event(_queue("QueueCallerJoin", "1700000001.1", "1700000001.1"))
        pushed = await board()
        assert pushed["today"]["in_progress"] == 1  # type: ignore[index]
        assert [p["waiting"] for p in pushed["pools"]] == [1]  # type: ignore[union-attr]
