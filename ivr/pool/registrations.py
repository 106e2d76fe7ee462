"""Phones' registration, live from Asterisk's contact events over AMI, and what follows from it.

Every SIP phone (an official's device, an operator's phone) is registered or not as each node's
Asterisk sees it. Asterisk reports a contact's life in ``ContactStatus`` (Created or
NonQualified when a phone registers, Removed when it unregisters or expires, Reachable /
Unreachable when qualified), an event of the AMI ``system`` read class that the account's event
filter lets through alone with FullyBooted (manager.conf.tmpl; ``DeviceStateChange`` would need
res_manager_devicestate, which is not loaded). Each event is written to ``phone_registrations`` (one row per
endpoint and node, so a phone registered on any node counts as registered on every node) by one
worker task, in arrival order. After every AMI login the node's rows are rebuilt from
``PJSIPShowContacts`` (a phone may have registered or expired while the controller was away).

A phone with a static contact (lab, demo) counts as registered: it has no row.

An operator whose phone is registered nowhere is paused by the system with the reason
``电话未注册`` (:func:`ivr.pool.service.follow_registration`); a pause the system made is lifted
when the phone registers again; a pause the operator made survives.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.asterisk.ami import AmiClient, AmiError, Message
from ivr.core.names import ENDPOINT_RE
from ivr.core.timeutil import utcnow
from ivr.db.models import Device, Operator, PhoneRegistration
from ivr.db.session import Db
from ivr.pool import service as pool_service

log = logging.getLogger(__name__)
# what a phone's registration is: registered (a contact), static (a configured contact),
# unregistered (none), unreachable (a contact that stopped answering qualify), unknown (not seen)
STATUSES = ("registered", "static", "unregistered", "unreachable", "unknown")
REGISTERED = frozenset({"registered", "static"})
CONTACT_STATUS = {"created": "registered", "updated": "registered", "reachable": "registered",
                  "nonqualified": "registered", "unknown": "registered",
                  "removed": "unregistered", "unreachable": "unreachable"}
EVENTS = ("ContactStatus",)
Listener = Callable[[str, str], None]  # (endpoint, its status everywhere) after each change


@dataclass(frozen=True, slots=True)
class Update:
    endpoint: str
    status: str
    contact: str = ""
    user_agent: str = ""


def update_of(msg: Message) -> Update | None:
    """What an AMI event says of a phone, or None (another device, a state that says nothing)."""
    if msg.get("Event") != "ContactStatus":
        return None
    endpoint = msg.get("EndpointName") or msg.get("AOR", "")
    status = CONTACT_STATUS.get(msg.get("ContactStatus", "").lower())
    if status is None or not ENDPOINT_RE.fullmatch(endpoint):
        return None
    return Update(endpoint, status, msg.get("URI", "")[:255], msg.get("UserAgent", "")[:255])


@dataclass(frozen=True, slots=True)
class PhoneState:
    """A phone's registration for the pages and the API."""
    endpoint: str
    status: str
    contact: str = ""
    user_agent: str = ""
    since: datetime | None = None
    nodes: tuple[str, ...] = ()

    @property
    def registered(self) -> bool:
        return self.status in REGISTERED


class Registrations:
    def __init__(self, db: Db, node: str, ami: AmiClient | None) -> None:
        self.db, self.node, self.ami = db, node, ami
        self.listeners: list[Listener] = []
        self.synced = False  # this node's rows were rebuilt since the controller started
        self._queue: asyncio.Queue[Update] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def attach(self, ami: AmiClient) -> None:
        for name in EVENTS:
            ami.subscribe(name, self.on_event)

    def on_event(self, msg: Message) -> None:
        update = update_of(msg)
        if update is None:
            return
        self._queue.put_nowait(update)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="registrations")

    async def _work(self) -> None:
        while not self._queue.empty():
            update = self._queue.get_nowait()
            try:
                await self.apply(update)
            except Exception:
                log.exception("registration of %s not applied", update.endpoint)

    async def apply(self, u: Update) -> None:
        """Record what this node's Asterisk said of a phone; follow its operator if it changed."""
        async with self.db() as session, session.begin():
            static = await _static(session, u.endpoint)
            if static is None or static:
                return  # not a phone of ours (the carrier), or a static contact
            row = await session.get(PhoneRegistration, (u.endpoint, self.node))
            if row is None:
                row = PhoneRegistration(endpoint=u.endpoint, node=self.node, status=u.status)
                session.add(row)
            elif row.status != u.status:
                row.since = utcnow()
            row.status = u.status
            registered = u.status == "registered"
            row.contact = u.contact if registered else ""
            row.user_agent = u.user_agent if registered else ""
        await self.follow(u.endpoint)

    async def follow(self, endpoint: str) -> None:
        state = (await self.states([endpoint]))[endpoint]
        await pool_service.follow_registration(self.db, self.ami, endpoint, state.registered)
        for listener in self.listeners:
            listener(endpoint, state.status)

    async def resync(self, ami: AmiClient) -> None:
        """After an AMI login: this node's rows from ``PJSIPShowContacts``, every operator
        followed (paused or resumed as their phone is now)."""
        contacts: dict[str, Update] = {}
        try:
            events = await ami.action_list("PJSIPShowContacts", timeout=10)
        except AmiError as exc:
            if "No Contacts" not in str(exc):
                raise
            events = []  # Asterisk's answer when no phone is registered
        for ev in events:
            if ev.get("Event") != "ContactList":
                continue
            endpoint = ev.get("Endpoint") or ev.get("ObjectName", "").split(";@", 1)[0]
            status = CONTACT_STATUS.get(ev.get("Status", "").lower(), "registered")
            contacts[endpoint] = Update(endpoint, status, ev.get("Uri", "")[:255],
                                        ev.get("UserAgent", "")[:255])
        async with self.db() as session, session.begin():
            phones = await _phones(session)
            old = {r.endpoint: r for r in (await session.scalars(
                select(PhoneRegistration).where(PhoneRegistration.node == self.node))).all()}
            await session.execute(delete(PhoneRegistration).where(
                PhoneRegistration.node == self.node,
                PhoneRegistration.endpoint.not_in([e for e, s in phones.items() if not s])))
            for endpoint, static in phones.items():
                if static:
                    continue
                u = contacts.get(endpoint, Update(endpoint, "unregistered"))
                row = old.get(endpoint)
                if row is None:
                    session.add(PhoneRegistration(endpoint=endpoint, node=self.node,
                                                  status=u.status, contact=u.contact,
                                                  user_agent=u.user_agent))
                    continue
                if row.status != u.status:
                    row.since = utcnow()
                row.status, row.contact, row.user_agent = u.status, u.contact, u.user_agent
            operators = list((await session.scalars(select(Operator.endpoint))).all())
        self.synced = True
        for endpoint in operators:
            await self.follow(endpoint)

    async def states(self, endpoints: list[str] | None = None) -> dict[str, PhoneState]:
        """The registration of ``endpoints`` (default: every SIP phone) over every node."""
        async with self.db() as session:
            phones = await _phones(session)
            q = select(PhoneRegistration)
            if endpoints is not None:
                q = q.where(PhoneRegistration.endpoint.in_(endpoints))
            rows = (await session.scalars(q)).all()
        out: dict[str, PhoneState] = {}
        for endpoint in endpoints if endpoints is not None else sorted(phones):
            if phones.get(endpoint):
                out[endpoint] = PhoneState(endpoint, "static", phones[endpoint] or "")
                continue
            mine = [r for r in rows if r.endpoint == endpoint]
            best = next((r for r in mine if r.status == "registered"), None) or \
                next((r for r in mine if r.node == self.node), None) or \
                (mine[0] if mine else None)
            if best is None:
                out[endpoint] = PhoneState(endpoint, "unknown")
                continue
            out[endpoint] = PhoneState(endpoint, best.status, best.contact, best.user_agent,
                                       best.since, tuple(sorted(r.node for r in mine
                                                                if r.status == "registered")))
        return out

    async def is_registered(self, endpoint: str) -> bool | None:
        """None while nothing is known of it (never synced, not a phone)."""
        state = (await self.states([endpoint]))[endpoint]
        return None if state.status == "unknown" else state.registered

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()


async def _static(session: AsyncSession, endpoint: str) -> str | None:
    """The phone's static contact ("" if it has none), or None when it is not a phone of ours."""
    for model in (Operator, Device):
        found = (await session.execute(select(model.static_contact)
                                       .where(model.endpoint == endpoint))).first()
        if found is not None:
            return found[0] or ""
    return None


async def _phones(session: AsyncSession) -> dict[str, str]:
    """Every SIP phone's endpoint with its static contact ("" when it registers)."""
    out = {e: c or "" for e, c in (await session.execute(
        select(Device.endpoint, Device.static_contact).where(Device.endpoint.is_not(None)))).all()
        if e}
    out.update({e: c or "" for e, c in (await session.execute(
        select(Operator.endpoint, Operator.static_contact))).all()})
    return out


REGISTRATIONS = web.AppKey("registrations", Registrations)
