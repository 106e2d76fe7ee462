"""Phones' registration from ContactStatus events, and the operators' auto-pause that follows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.asterisk.ami import AmiError
from ivr.core.config import Config
from ivr.db.models import Operator
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade
from ivr.directory import services as directory
from ivr.directory.importer import import_file
from ivr.pool import service as pool_service
from ivr.pool.registrations import Registrations, Update, update_of

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "directory.yaml"
REASON = pool_service.UNREGISTERED_REASON


class FakeAmi:
    """Records queue actions; PJSIPShowContacts answers ``contacts`` (none: Asterisk's error)."""

    def __init__(self) -> None:
        self.actions: list[tuple[str, dict[str, Any]]] = []
        self.contacts: list[dict[str, str]] = []
        self.logged_in = asyncio.Event()
        self.logged_in.set()

    async def action(self, name: str, timeout: float | None = None, **fields: Any) -> Any:
        self.actions.append((name, fields))
        return {}

    async def action_list(self, name: str, timeout: float | None = None, **fields: Any) -> Any:
        assert name == "PJSIPShowContacts"
        if not self.contacts:
            raise AmiError(name, {"Response": "Error", "Message": "No Contacts found"})
        return self.contacts


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Db]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"
    upgrade(url)
    engine = create_engine(Config.build(database={"url": url}))
    sessionmaker = make_sessionmaker(engine)
    await import_file(sessionmaker, EXAMPLE, "test")
    await directory.create_operator(sessionmaker, "话务员 赵敏", "op-3", "main", "test")
    yield sessionmaker
    await engine.dispose()


async def _op(db: Db, endpoint: str = "op-3") -> Operator:
    async with db() as session:
        from sqlalchemy import select
        op = await session.scalar(select(Operator).where(Operator.endpoint == endpoint))
        assert op is not None
        return op


def test_contact_events() -> None:
    ev = {"Event": "ContactStatus", "URI": "sip:op-3@127.0.0.1:5070", "ContactStatus": "NonQualified",
          "AOR": "op-3", "EndpointName": "op-3"}
    assert update_of(ev) == Update("op-3", "registered", "sip:op-3@127.0.0.1:5070")
    assert update_of({**ev, "ContactStatus": "Created"}).status == "registered"  # type: ignore[union-attr]
    assert update_of({**ev, "ContactStatus": "Removed"}).status == "unregistered"  # type: ignore[union-attr]
    assert update_of({**ev, "ContactStatus": "Unreachable"}).status == "unreachable"  # type: ignore[union-attr]
    assert update_of({**ev, "ContactStatus": "Whatever"}) is None
    assert update_of({**ev, "EndpointName": "OP 3\r\nEvent: x", "AOR": ""}) is None  # not a name of ours
    assert update_of({**ev, "Event": "PeerStatus"}) is None


async def test_unregistered_operator_is_paused_then_resumed(db: Db) -> None:
    ami = FakeAmi()
    regs = Registrations(db, "node-a", ami)  # type: ignore[arg-type]
    seen: list[tuple[str, str]] = []
    regs.listeners.append(lambda e, s: seen.append((e, s)))
    await regs.resync(ami)  # type: ignore[arg-type]
    states = await regs.states()
    assert states["op-3"].status == "unregistered" and states["op-1"].status == "static"
    assert await regs.is_registered("op-1") is True
    # logging in while unregistered: paused by the system at once
    op = await pool_service.set_state(db, ami, "op-3", "ready", registered=False)  # type: ignore[arg-type]
    assert (op.state, op.paused_reason, op.auto_paused) == ("paused", REASON, True)
    await regs.apply(Update("op-3", "registered", "sip:op-3@127.0.0.1:5070"))
    op = await _op(db)
    assert (op.state, op.paused_reason, op.auto_paused) == ("ready", "", False)
    assert ami.actions[-1] == ("QueuePause", {"Queue": "pool-main", "Interface": "PJSIP/op-3",
                                              "Paused": "false", "Reason": ""})
    await regs.apply(Update("op-3", "unregistered"))
    op = await _op(db)
    assert (op.state, op.paused_reason, op.auto_paused) == ("paused", REASON, True)
    assert ami.actions[-1][1]["Paused"] == "true" and ami.actions[-1][1]["Reason"] == REASON
    assert seen[-2:] == [("op-3", "registered"), ("op-3", "unregistered")]
    # a static contact's event changes nothing; an unknown endpoint neither
    await regs.apply(Update("op-1", "unregistered"))
    await regs.apply(Update("carrier", "unregistered"))
    assert (await regs.states())["op-1"].status == "static"


async def test_manual_pause_survives_registration(db: Db) -> None:
    ami = FakeAmi()
    regs = Registrations(db, "node-a", ami)  # type: ignore[arg-type]
    await regs.apply(Update("op-3", "registered", "sip:op-3@127.0.0.1:5070"))
    await pool_service.set_state(db, ami, "op-3", "paused", "午饭")  # type: ignore[arg-type]
    await regs.apply(Update("op-3", "unregistered"))
    await regs.apply(Update("op-3", "registered", "sip:op-3@127.0.0.1:5070"))
    op = await _op(db)
    assert (op.state, op.paused_reason, op.auto_paused) == ("paused", "午饭", False)
    # a logged-out operator is never paused by the system
    await pool_service.set_state(db, ami, "op-3", "logged_out")  # type: ignore[arg-type]
    await regs.apply(Update("op-3", "unregistered"))
    assert (await _op(db)).state == "logged_out"


async def test_registered_on_another_node_counts(db: Db) -> None:
    """Two controllers share the database: a phone registered with either is registered."""
    a, b = FakeAmi(), FakeAmi()
    node_a = Registrations(db, "node-a", a)  # type: ignore[arg-type]
    node_b = Registrations(db, "node-b", b)  # type: ignore[arg-type]
    await pool_service.set_state(db, a, "op-3", "ready")  # type: ignore[arg-type]
    a.contacts = [{"Event": "ContactList", "Endpoint": "op-3", "Uri": "sip:op-3@10.0.0.9:5060",
                   "Status": "NonQualified", "UserAgent": "Yealink T46U"}]
    await node_a.resync(a)  # type: ignore[arg-type]
    await node_b.resync(b)  # type: ignore[arg-type]  # node b has no contact for it
    assert (await _op(db)).state == "ready"
    state = (await node_b.states(["op-3"]))["op-3"]
    assert (state.status, state.nodes, state.user_agent) == ("registered", ("node-a",), "Yealink T46U")
    await node_a.apply(Update("op-3", "unregistered"))  # gone everywhere now
    assert (await _op(db)).paused_reason == REASON


def test_every_status_has_its_texts() -> None:
    from ivr.http.keys import PHONE_STATUS_TEXTS
    from ivr.pool.registrations import STATUSES
    assert set(PHONE_STATUS_TEXTS) == {f"phone.status.{s}" for s in STATUSES}
    assert all(zh and en and zh != en for zh, en in PHONE_STATUS_TEXTS.values())
