"""The AMI client (ivr/asterisk/ami.py): framing, and a fake AMI server on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ivr.asterisk import ami as ami_module
from ivr.asterisk.ami import (
    AmiClient,
    AmiDisconnected,
    AmiError,
    Message,
    check_message,
    format_action,
    parse_message,
)

# -- framing ---------------------------------------------------------------------------------

def test_parse_message() -> None:
    raw = ("Response: Success\r\nActionID: ivr-1\r\nMessage: Authentication accepted\r\n"
           "Key: /ivr/o/1/name\r\nVal: 张三: 局长\r\nEmpty:\r\nNoSpace:x\r\nno colon here\r\n"
           "Key: second value ignored").encode()
    assert parse_message(raw) == {"Response": "Success", "ActionID": "ivr-1",
                                  "Message": "Authentication accepted", "Key": "/ivr/o/1/name",
                                  "Val": "张三: 局长", "Empty": "", "NoSpace": "x"}
    assert parse_message(b"") == {}
    assert parse_message(b"Bad: \xff\xfe")["Bad"] == "\ufffd\ufffd"


def test_format_action() -> None:
    data = format_action({"Action": "DBPut", "ActionID": "ivr-7", "Family": "ivr",
                          "Key": "o/1/name", "Val": "张三 局长", "Timeout": 5})
    assert data == ("Action: DBPut\r\nActionID: ivr-7\r\nFamily: ivr\r\nKey: o/1/name\r\n"
                    "Val: 张三 局长\r\nTimeout: 5\r\n\r\n").encode()
    multi = format_action({"Action": "Originate", "Variable": ["A=1", "B=2"]})
    assert multi == b"Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n"
    assert parse_message(data[:-4]) == {"Action": "DBPut", "ActionID": "ivr-7", "Family": "ivr",
                                        "Key": "o/1/name", "Val": "张三 局长", "Timeout": "5"}


@pytest.mark.parametrize("bad", ["a\r\nAction: Originate", "a\nb", "a\r"])
def test_format_action_refuses_line_breaks(bad: str) -> None:
    with pytest.raises(ValueError):
        format_action({"Action": "DBPut", "Val": bad})
    with pytest.raises(ValueError):
        format_action({"Action": "Originate", "Variable": ["ok", bad]})


# -- a fake AMI server ----------------------------------------------------------------------

class FakeAmi:
    """Speaks enough AMI: banner, Login, Ping, DBPut/DBDel/DBGetTree on a dict, a list action,
    an always-failing action, an action never answered; can push events, split into tiny TCP
    writes, and be stopped and restarted on the same port."""

    def __init__(self, port: int, secret: str = "s3cret", chunk: int = 0) -> None:
        self.port, self.secret, self.chunk = port, secret, chunk
        self.db: dict[str, str] = {}
        self.actions: list[Message] = []
        self.logins = 0
        self.connections = 0
        self.held: list[Message] = []  # actions answered later, on demand
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.on_action: Callable[[Message], Any] | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for w in self.writers:
                w.close()
            await self.server.wait_closed()
            self.server = None
        self.writers = []

    async def send(self, writer: asyncio.StreamWriter, msg: Message) -> None:
        data = "".join(f"{k}: {v}\r\n" for k, v in msg.items()).encode("utf-8") + b"\r\n"
        if self.chunk:
            for i in range(0, len(data), self.chunk):
                writer.write(data[i:i + self.chunk])
                await writer.drain()
                await asyncio.sleep(0)
        else:
            writer.write(data)
            await writer.drain()

    async def broadcast(self, msg: Message) -> None:
        for w in self.writers:
            await self.send(w, msg)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                msg = parse_message(raw[:-4])
                self.actions.append(msg)
                if self.on_action is not None:
                    self.on_action(msg)
                await self._answer(writer, msg)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, w: asyncio.StreamWriter, msg: Message) -> None:
        aid = msg.get("ActionID", "")
        action = msg.get("Action", "").lower()
        ok = {"Response": "Success", "ActionID": aid}
        if action == "login":
            if msg.get("Username") == "ivr" and msg.get("Secret") == self.secret:
                self.logins += 1
                await self.send(w, {**ok, "Message": "Authentication accepted"})
            else:
                await self.send(w, {"Response": "Error", "ActionID": aid,
                                    "Message": "Authentication failed"})
        elif action == "ping":
            await self.send(w, {**ok, "Ping": "Pong", "Timestamp": "1795366780.000000"})
        elif action == "dbput":
            self.db[f"{msg['Family']}/{msg['Key']}"] = msg.get("Val", "")
            await self.send(w, {**ok, "Message": "Updated database successfully"})
        elif action == "dbdel":
            if self.db.pop(f"{msg['Family']}/{msg['Key']}", None) is None:
                await self.send(w, {"Response": "Error", "ActionID": aid,
                                    "Message": "Database entry not found"})
            else:
                await self.send(w, {**ok, "Message": "Key deleted successfully"})
        elif action == "dbgettree":
            prefix = msg["Family"] + "/"
            keys = sorted(k for k in self.db if k.startswith(prefix))
            if not keys:
                await self.send(w, {"Response": "Error", "ActionID": aid,
                                    "Message": "Database entry not found"})
                return
            await self.send(w, {**ok, "EventList": "start", "Message": "Result will follow"})
            for k in keys:
                await self.send(w, {"Event": "DBGetTreeResponse", "ActionID": aid,
                                    "Key": "/" + k, "Val": self.db[k]})
            await self.send(w, {"Event": "DBGetTreeComplete", "ActionID": aid,
                                "EventList": "Complete", "ListItems": str(len(keys))})
        elif action == "queuestatus":
            await self.send(w, {**ok, "EventList": "start", "Message": "Queue status will follow"})
            for i in range(3):
                await self.send(w, {"Event": "QueueMember", "ActionID": aid, "Queue": "pool-main",
                                    "Name": f"op-{i}"})
            await self.send(w, {"Event": "QueueStatusComplete", "ActionID": aid,
                                "EventList": "Complete", "ListItems": "3"})
        elif action == "fail":
            await self.send(w, {"Response": "Error", "ActionID": aid, "Message": "Permission denied"})
        elif action == "hold":
            self.held.append(msg)  # answered by release()
        else:
            await self.send(w, {**ok, "Echo": msg.get("Value", "")})

    async def release(self, reverse: bool = True) -> None:
        held, self.held = self.held, []
        for msg in reversed(held) if reverse else held:
            await self.broadcast({"Response": "Success", "ActionID": msg["ActionID"],
                                  "Value": msg.get("Value", "")})


async def wait_until(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def fake(unused_tcp_port: int) -> AsyncIterator[FakeAmi]:
    server = FakeAmi(unused_tcp_port)
    await server.start()
    yield server
    await server.stop()


def client(port: int, **kw: Any) -> AmiClient:
    kw.setdefault("backoff_initial", 0.05)
    kw.setdefault("backoff_max", 0.2)
    kw.setdefault("ping_interval", 60)
    kw.setdefault("action_timeout", 2.0)
    return AmiClient("127.0.0.1", port, "ivr", "s3cret", **kw)


@pytest.fixture
async def ami(fake: FakeAmi) -> AsyncIterator[AmiClient]:
    c = client(fake.port)
    c.start()
    await c.wait_logged_in(3)
    yield c
    await c.close()


async def test_login_and_on_login(fake: FakeAmi) -> None:
    calls: list[int] = []

    async def on_login(c: AmiClient) -> None:
        calls.append(c.logins)
        await c.action("Ping")  # the resync may use the connection right away

    c = client(fake.port, on_login=on_login)
    c.start()
    try:
        await c.wait_logged_in(3)
        await wait_until(lambda: calls == [1])
        login = fake.actions[0]
        assert login["Action"] == "Login" and login["Username"] == "ivr"
        assert login["Secret"] == "s3cret" and login["Events"] == "on"
        assert login["ActionID"].startswith("ivr-")
        assert c.logins == 1 and fake.logins == 1
    finally:
        await c.close()


async def test_bad_secret_never_logs_in(fake: FakeAmi) -> None:
    fake.secret = "other"
    c = client(fake.port)
    c.start()
    try:
        await wait_until(lambda: fake.connections >= 2)  # it retries
        assert not c.logged_in.is_set() and c.logins == 0
        with pytest.raises(AmiDisconnected):
            await c.action("Ping")
    finally:
        await c.close()


async def test_action_before_connecting() -> None:
    c = client(1)
    with pytest.raises(AmiDisconnected):
        await c.action("Ping")


async def test_actions_matched_by_action_id(ami: AmiClient, fake: FakeAmi) -> None:
    tasks = [asyncio.create_task(ami.action("Hold", Value=str(i))) for i in range(5)]
    await wait_until(lambda: len(fake.held) == 5)
    await fake.release(reverse=True)  # answered in the opposite order
    responses = await asyncio.gather(*tasks)
    assert [r["Value"] for r in responses] == ["0", "1", "2", "3", "4"]
    ids = [m["ActionID"] for m in fake.actions]
    assert len(ids) == len(set(ids))


async def test_echo_and_ping(ami: AmiClient) -> None:
    assert (await ami.action("Echo", Value="张三"))["Echo"] == "张三"
    assert (await ami.action("Ping"))["Ping"] == "Pong"


async def test_list_action(ami: AmiClient) -> None:
    events = await ami.action_list("QueueStatus", Queue="pool-main")
    assert [e["Name"] for e in events] == ["op-0", "op-1", "op-2"]
    assert all(e["Event"] == "QueueMember" for e in events)


async def test_error_response_raises(ami: AmiClient) -> None:
    with pytest.raises(AmiError) as info:
        await ami.action("Fail")
    assert info.value.response["Message"] == "Permission denied"
    assert "Permission denied" in str(info.value)
    # the connection is still usable
    assert (await ami.action("Ping"))["Response"] == "Success"


async def test_action_timeout(fake: FakeAmi) -> None:
    c = client(fake.port)
    c.start()
    try:
        await c.wait_logged_in(3)
        with pytest.raises(asyncio.TimeoutError):
            await c.action("Hold", timeout=0.1)
        assert c._pending == {}  # nothing left behind
    finally:
        await c.close()


async def test_events_dispatched(ami: AmiClient, fake: FakeAmi) -> None:
    cel: list[Message] = []
    every: list[str] = []
    done = asyncio.Event()

    async def coro_handler(msg: Message) -> None:
        await asyncio.sleep(0)
        done.set()

    def broken(msg: Message) -> None:
        raise RuntimeError("handler bug")

    ami.subscribe("CEL", broken)
    ami.subscribe("CEL", cel.append)
    ami.subscribe("CEL", coro_handler)
    ami.subscribe("*", lambda m: every.append(m["Event"]))
    await fake.broadcast({"Event": "FullyBooted", "Status": "Fully Booted"})
    await fake.broadcast({"Event": "CEL", "EventName": "IVR_CALL", "Extra": '{"extra":"dialed=1"}'})
    await fake.broadcast({"Event": "Newchannel", "Channel": "PJSIP/x-1"})
    await wait_until(lambda: len(every) == 3)
    await asyncio.wait_for(done.wait(), 2)
    assert [m["EventName"] for m in cel] == ["IVR_CALL"]
    assert every == ["FullyBooted", "CEL", "Newchannel"]


async def test_utf8_split_across_reads(unused_tcp_port: int) -> None:
    fake = FakeAmi(unused_tcp_port, chunk=1)  # every byte its own TCP write
    await fake.start()
    c = client(fake.port)
    got: list[Message] = []
    c.subscribe("CEL", got.append)
    c.start()
    try:
        await c.wait_logged_in(3)
        await fake.broadcast({"Event": "CEL", "CallerIDname": "张三 局长", "Extra": "市交通运输局"})
        await wait_until(lambda: len(got) == 1)
        assert got[0]["CallerIDname"] == "张三 局长" and got[0]["Extra"] == "市交通运输局"
        fake.db["ivr/o/1/name"] = "王敏 主任"
        assert await c.db_tree("ivr") == {"o/1/name": "王敏 主任"}
    finally:
        await c.close()
        await fake.stop()


async def test_astdb_helpers(ami: AmiClient, fake: FakeAmi) -> None:
    assert await ami.db_tree("ivr") == {}  # Asterisk answers an empty tree with an error
    await ami.db_put("ivr", "o/1/name", "张三")
    await ami.db_put("ivr", "num/05585551001", "1")
    fake.db["other/x"] = "y"
    assert fake.db["ivr/o/1/name"] == "张三"
    assert await ami.db_tree("ivr") == {"o/1/name": "张三", "num/05585551001": "1"}
    await ami.db_del("ivr", "o/1/name")
    await ami.db_del("ivr", "o/1/name")  # already gone: no error
    assert await ami.db_tree("ivr") == {"num/05585551001": "1"}


async def test_disconnect_fails_pending_actions(ami: AmiClient, fake: FakeAmi) -> None:
    task = asyncio.create_task(ami.action("Hold", timeout=5))
    await wait_until(lambda: len(fake.held) == 1)
    await fake.stop()
    with pytest.raises(AmiDisconnected):  # failed by the drop: waiting out the timeout would
        await task                        # raise asyncio.TimeoutError instead
    assert not ami.logged_in.is_set()
    with pytest.raises(AmiDisconnected):
        await ami.action("Ping")


def _records(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ami_module.__name__ and text in r.msg]


async def test_reconnect_and_on_login_again(unused_tcp_port: int,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ami_module.__name__)
    fake = FakeAmi(unused_tcp_port)
    await fake.start()
    logins: list[int] = []

    async def on_login(c: AmiClient) -> None:
        logins.append(c.logins)

    c = client(fake.port, on_login=on_login)
    c.start()
    try:
        await c.wait_logged_in(3)
        await wait_until(lambda: logins == [1])
        await fake.stop()
        await wait_until(lambda: not c.logged_in.is_set())
        # a few failed attempts while Asterisk is down
        await wait_until(lambda: len(_records(caplog, "unreachable")) >= 2)
        fake2 = FakeAmi(unused_tcp_port)
        await fake2.start()
        try:
            await c.wait_logged_in(3)
            await wait_until(lambda: logins == [1, 2])
            assert c.logins == 2 and fake2.logins == 1
            assert (await c.action("Ping"))["Ping"] == "Pong"
        finally:
            await fake2.stop()
    finally:
        await c.close()
        await fake.stop()


class _RecordedSleeps:
    """The ``asyncio`` the AMI module sees, whose ``sleep`` records the delay asked for and
    returns at once: the backoff is observed as the client's own schedule, not as wall time."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        self.delays.append(delay)
        return await asyncio.sleep(0, result)


async def test_backoff_grows_and_is_capped(unused_tcp_port: int,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # A server that accepts and answers nothing: each session fails (login times out), so the
    # client waits longer before each new attempt, up to backoff_max.
    sessions: list[int] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sessions.append(1)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            await reader.read()
        finally:
            writer.close()

    clock = _RecordedSleeps()
    monkeypatch.setattr(ami_module, "asyncio", clock)
    server = await asyncio.start_server(mute, "127.0.0.1", unused_tcp_port)
    c = client(unused_tcp_port, backoff_initial=0.05, backoff_max=0.3, action_timeout=0.05)
    c.start()
    try:
        await wait_until(lambda: len(clock.delays) >= 6, timeout=10)
    finally:
        await c.close()
        server.close()
        await server.wait_closed()
    assert len(sessions) >= 6 and c.logins == 0  # every attempt reached the server and failed
    # delay × jitter (0.8..1.2): 0.05, 0.1, 0.2, then capped at 0.3
    for asked, base in zip(clock.delays, (0.05, 0.1, 0.2, 0.3, 0.3, 0.3), strict=False):
        assert base * 0.8 - 1e-9 <= asked <= base * 1.2 + 1e-9, clock.delays


def _live_ami_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("ami") and not t.done()]


async def test_close_is_final(fake: FakeAmi) -> None:
    c = client(fake.port)
    c.start()
    await c.wait_logged_in(3)
    assert {t.get_name() for t in _live_ami_tasks()} >= {"ami", "ami-read"}
    n = fake.connections
    await c.close()
    # nothing of the client is left running (runner, reader, pinger): nothing can reconnect
    await wait_until(lambda: not _live_ami_tasks())
    assert fake.connections == n and not c.logged_in.is_set()


async def test_drop_during_login_reconnects_promptly(unused_tcp_port: int,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """A connection dropped during login fails the login at once (AmiDisconnected), not after
    the 1.5 s action timeout, and the client tries again."""
    caplog.set_level(logging.INFO, logger=ami_module.__name__)
    times: list[int] = []

    async def drop_on_login(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        times.append(1)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            await reader.readuntil(b"\r\n\r\n")  # the Login
        finally:
            writer.close()

    server = await asyncio.start_server(drop_on_login, "127.0.0.1", unused_tcp_port)
    c = client(unused_tcp_port, backoff_initial=0.05, action_timeout=1.5)
    c.start()
    try:
        await wait_until(lambda: len(times) >= 2, timeout=10)
        ended = _records(caplog, "session ended")
        assert ended and all(isinstance(r.args[0], AmiDisconnected) for r in ended), [
            r.getMessage() for r in ended]  # asyncio.TimeoutError: it waited out the timeout
    finally:
        await c.close()
        server.close()
        await server.wait_closed()


# -- refused messages: a caller ID with CR LF must not pick headers -------------------------

# An AMI CEL event as Asterisk 22 (cel_manager) writes it, the caller ID carrying CR LF lines.
def _cel(cid: str) -> bytes:
    return ("Event: CEL\r\nPrivilege: call,all\r\nTimestamp: 1795366780.100000\r\n"
            "EventName: USER_DEFINED\r\nAccountCode: \r\n"
            f"CallerIDnum: {cid}\r\nCallerIDname: citizen\r\nCallerIDani: 1\r\n"
            "CallerIDrdnis: \r\nCallerIDdnid: \r\nExten: s\r\nContext: ivr-route\r\n"
            "Channel: PJSIP/carrier-00000010\r\nApplication: CELGenUserEvent\r\n"
            "AppData: IVR_CALL,dialed=05585551001\r\nEventTime: 2026-11-19 10:19:40\r\n"
            "AMAFlags: DOCUMENTATION\r\nUniqueID: 1795366780.16\r\nLinkedID: 1795366780.16\r\n"
            "Userfield: \r\nPeer: \r\nPeerAccount: \r\nUserDefType: IVR_CALL\r\n"
            'Extra: {"extra":"dialed=05585551001"}').encode()


@pytest.mark.parametrize("cid,problem", [
    ("13800000000", ""),
    ("1\r\nLinkedID: 1795366780.1\r\nUniqueID: 1795366780.1", "header UniqueID repeated"),
    ("1\r\nextra: forged", "header Extra repeated"),  # case does not matter
    ("1\r\nUserDefType: IVR_STEP_END", "header UserDefType repeated"),
    ("1\r\nTimestamp: 1", "header Timestamp repeated"),
    ("1\r\nEvent: CEL", "header Event repeated"),
])
def test_check_message_refuses_repeated_unique_headers(cid: str, problem: str) -> None:
    assert check_message(_cel(cid)) == problem


def test_check_message_allows_what_asterisk_repeats() -> None:
    # real captures: a UserEvent's Exten twice (the channel's and the event's), Command's Output
    user_event = (b"Event: UserEvent\r\nPrivilege: user,all\r\nChannel: PJSIP/o-1-00000002\r\n"
                  b"Exten: s\r\nUniqueid: 1.2\r\nLinkedid: 1.1\r\nUserEvent: IVR_AMI\r\n"
                  b"Exten: 05585551001\r\nOfficial: 3")
    command = b"Response: Success\r\nActionID: ivr-9\r\nOutput: line 1\r\nOutput: line 2"
    assert check_message(user_event) == "" and check_message(command) == ""


def test_check_message_refuses_a_fragment() -> None:
    # a blank line in the caller ID cuts the message: its rest has no Event
    head, _, tail = _cel("1\r\nLinkedID: 1.1\r\n\r\nX-Forged: 1").partition(b"\r\n\r\n")
    assert check_message(tail) == "no Event or Response header"
    assert check_message(head) == ""  # nothing repeated: manager.conf must keep such events away
    assert check_message(b"") == "no Event or Response header"


async def test_refused_messages_are_counted_not_dispatched(ami: AmiClient, fake: FakeAmi) -> None:
    cel: list[Message] = []
    ami.subscribe("CEL", cel.append)
    for w in fake.writers:
        w.write(_cel("1\r\nLinkedID: 9.9\r\nUniqueID: 9.9\r\nExtra: x") + b"\r\n\r\n")
        w.write(_cel("1\r\nLinkedID: 9.9\r\n\r\nUniqueID: 9.9") + b"\r\n\r\n")  # head + fragment
        w.write(_cel("13800000000") + b"\r\n\r\n")
    await wait_until(lambda: len(cel) == 2)
    assert ami.refused == 2
    assert [m["LinkedID"] for m in cel] == ["9.9", "1795366780.16"]  # the head: see manager.conf
    assert await ami.action("Ping")  # the session goes on
