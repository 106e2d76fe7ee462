"""A small asyncio-native AMI client: framing on bytes, reconnect with backoff, resync on login.

Events are dispatched through an explicit table (``subscribe("CEL", handler)``). Handlers run
synchronously on the event loop and must be quick (queue work for a task); a coroutine
returned by a handler is scheduled as a task. Actions in flight when the connection drops fail
with :class:`AmiDisconnected`: nothing is replayed behind the caller's back (a replayed
Originate would ring a citizen twice). After every login ``on_login`` runs, so the controller
resyncs Asterisk (mirror, queue members) after each reconnect.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Message = dict[str, str]
Handler = Callable[[Message], Awaitable[None] | None]


class AmiError(Exception):
    """Asterisk answered an action with ``Response: Error``."""

    def __init__(self, action: str, message: Message) -> None:
        super().__init__(f"AMI {action}: {message.get('Message', 'error')}")
        self.response = message


class AmiDisconnected(ConnectionError):
    """The action could not complete: the AMI connection is down or dropped."""


# Headers Asterisk sends at most once per message (compared without case). A caller ID holding
# CR LF (the SIP From user is the caller's to write) puts header lines of the caller's choosing
# into any event that shows it; the caller ID precedes UniqueID, LinkedID and Extra, so a reader
# that kept the first copy would take the caller's. Asterisk itself repeats some headers
# legitimately (a UserEvent's Exten, a Command's Output, ChanVariable): those are not listed.
UNIQUE_HEADERS = frozenset(h.lower() for h in (
    "Event", "Response", "ActionID", "EventName", "Privilege", "UniqueID", "LinkedID", "Extra",
    "EventExtra", "UserDefType", "CallerIDnum", "CallerIDname", "Timestamp", "Channel", "Peer",
    "Context", "EventList"))


def parse_message(raw: bytes) -> Message:
    """The headers of one message; of a repeated header, the first copy (see :func:`check_message`)."""
    msg: Message = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(":")
        if sep and key and key not in msg:
            msg[key] = value.lstrip(" ")
    return msg


def check_message(raw: bytes) -> str:
    """Why a message must be refused, or ``""``: a header that must be unique repeated, or no
    ``Event``/``Response`` (the rest of a message that a blank line in a value cut short)."""
    seen: set[str] = set()
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, sep, _ = line.partition(":")
        name = key.lower()
        if not sep or not key:
            continue
        if name in seen and name in UNIQUE_HEADERS:
            return f"header {key} repeated"
        seen.add(name)
    if "event" not in seen and "response" not in seen:
        return "no Event or Response header"
    return ""


def format_action(fields: dict[str, Any]) -> bytes:
    lines = []
    for key, value in fields.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            text = str(v)
            if "\r" in text or "\n" in text:
                raise ValueError(f"AMI field {key} contains a line break")
            lines.append(f"{key}: {text}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class _Pending:
    __slots__ = ("future", "events", "is_list", "response")

    def __init__(self, is_list: bool) -> None:
        self.future: asyncio.Future[tuple[Message, list[Message]]] = (
            asyncio.get_running_loop().create_future())
        self.events: list[Message] = []
        self.is_list = is_list
        self.response: Message | None = None


class AmiClient:
    def __init__(self, host: str, port: int, username: str, secret: str, *,
                 backoff_initial: float = 0.2, backoff_max: float = 10.0,
                 action_timeout: float = 5.0, ping_interval: float = 10.0,
                 on_login: Callable[[AmiClient], Awaitable[None]] | None = None) -> None:
        self.host, self.port, self.username, self.secret = host, port, username, secret
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.action_timeout, self.ping_interval = action_timeout, ping_interval
        self.on_login = on_login
        self.logged_in = asyncio.Event()
        self.logins = 0  # how many times a login succeeded (1 + reconnects)
        self.refused = 0  # messages refused by check_message (/healthz ami_refused)
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._writer: asyncio.StreamWriter | None = None
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    # -- events -----------------------------------------------------------------------------
    def subscribe(self, event: str, handler: Handler) -> None:
        """Call ``handler(message)`` for each event named ``event`` (``*``: every event)."""
        self._handlers[event].append(handler)

    def _dispatch(self, msg: Message) -> None:
        for handler in self._handlers.get(msg.get("Event", ""), []) + self._handlers.get("*", []):
            try:
                result = handler(msg)
            except Exception:
                log.exception("AMI handler for %s failed", msg.get("Event"))
                continue
            if asyncio.iscoroutine(result):
                self._spawn(result)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self._runner is None:
            self._closing = False
            self._runner = asyncio.create_task(self._run(), name="ami")

    async def close(self) -> None:
        self._closing = True
        if self._writer is not None:
            self._writer.close()
        if self._runner is not None:
            self._runner.cancel()
            try:
                await self._runner
            except asyncio.CancelledError:
                pass
            self._runner = None
        for task in list(self._tasks):
            task.cancel()

    async def wait_logged_in(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self.logged_in.wait(), timeout)

    async def _run(self) -> None:
        delay = self.backoff_initial
        while not self._closing:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), 5)
            except (TimeoutError, OSError) as exc:
                log.info("AMI %s:%s unreachable (%s); retry in %.1fs", self.host, self.port, exc, delay)
            else:
                if await self._session(reader, writer):
                    delay = self.backoff_initial  # it worked for a while: start over gently
            if self._closing:
                break
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, self.backoff_max)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        self._writer = writer
        reading: asyncio.Task[None] | None = None
        pinging: asyncio.Task[None] | None = None
        logged = False
        try:
            await asyncio.wait_for(reader.readline(), 5)  # banner
            reading = asyncio.create_task(self._read_loop(reader), name="ami-read")
            await self.action("Login", Username=self.username, Secret=self.secret, Events="on")
            logged = True
            self.logins += 1
            self.logged_in.set()
            log.info("AMI logged in to %s:%s (login #%d)", self.host, self.port, self.logins)
            if self.on_login is not None:
                self._spawn(self._safe_on_login())
            pinging = asyncio.create_task(self._ping_loop(), name="ami-ping")
            await reading
        except (TimeoutError, OSError, AmiError, AmiDisconnected, asyncio.IncompleteReadError) as exc:
            log.warning("AMI session ended: %s", exc)
        finally:
            self.logged_in.clear()
            for task in (reading, pinging):
                if task is not None:
                    task.cancel()
            writer.close()
            self._writer = None
            self._fail_pending()
        return logged

    async def _safe_on_login(self) -> None:
        assert self.on_login is not None
        try:
            await self.on_login(self)
        except Exception:
            log.exception("resync after AMI login failed; it will run again on the next login")

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self.action("Ping")
            except (TimeoutError, AmiDisconnected):
                log.warning("AMI ping unanswered: dropping the connection")
                if self._writer is not None:
                    self._writer.close()
                return

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                self._fail_pending()  # the peer is gone: nothing in flight will be answered
                return
            except asyncio.LimitOverrunError as exc:
                await reader.readexactly(exc.consumed)  # absurd message: skip it
                continue
            problem = check_message(raw[:-4])
            if problem:
                self.refused += 1
                log.warning("AMI message refused (%s; %d so far): %r", problem, self.refused,
                            raw[:300])
                continue
            self._handle(parse_message(raw[:-4]))

    def _handle(self, msg: Message) -> None:
        pending = self._pending.get(msg.get("ActionID", ""))
        if pending is None:
            if "Event" in msg:
                self._dispatch(msg)
            return
        if "Response" in msg:
            pending.response = msg
            if not pending.is_list or msg.get("Response") == "Error" or \
                    msg.get("EventList", "").lower() != "start":
                self._resolve(msg["ActionID"], pending)
        elif "Event" in msg:
            if msg.get("EventList", "").lower() == "complete" or msg["Event"].endswith("Complete"):
                self._resolve(msg["ActionID"], pending)
            else:
                pending.events.append(msg)

    def _resolve(self, action_id: str, pending: _Pending) -> None:
        self._pending.pop(action_id, None)
        if not pending.future.done() and pending.response is not None:
            pending.future.set_result((pending.response, pending.events))

    def _fail_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(AmiDisconnected("AMI connection lost"))

    # -- actions ----------------------------------------------------------------------------
    async def _send(self, name: str, is_list: bool, fields: dict[str, Any],
                    timeout: float | None) -> tuple[Message, list[Message]]:
        writer = self._writer
        if writer is None or (name != "Login" and not self.logged_in.is_set()):
            raise AmiDisconnected(f"AMI not connected: cannot send {name}")
        action_id = f"ivr-{next(self._ids)}"
        pending = _Pending(is_list)
        self._pending[action_id] = pending
        writer.write(format_action({"Action": name, "ActionID": action_id, **fields}))
        try:
            response, events = await asyncio.wait_for(pending.future, timeout or self.action_timeout)
        finally:
            self._pending.pop(action_id, None)
        if response.get("Response") == "Error":
            raise AmiError(name, response)
        return response, events

    async def action(self, name: str, timeout: float | None = None, **fields: Any) -> Message:
        response, _ = await self._send(name, False, fields, timeout)
        return response

    async def action_list(self, name: str, timeout: float | None = None,
                          **fields: Any) -> list[Message]:
        _, events = await self._send(name, True, fields, timeout)
        return events

    # -- AstDB ------------------------------------------------------------------------------
    async def db_put(self, family: str, key: str, value: str) -> None:
        await self.action("DBPut", Family=family, Key=key, Val=value)

    async def db_del(self, family: str, key: str) -> None:
        try:
            await self.action("DBDel", Family=family, Key=key)
        except AmiError:
            pass  # already gone

    async def db_tree(self, family: str) -> dict[str, str]:
        """Every key under ``family`` (relative to it) with its value."""
        try:
            events = await self.action_list("DBGetTree", Family=family)
        except AmiError:
            return {}  # empty tree
        out = {}
        prefix = f"/{family}/"
        for ev in events:
            key = ev.get("Key", "")
            if key.startswith(prefix):
                out[key[len(prefix):]] = ev.get("Val", "")
        return out
