"""The bounded FastAGI server (ivr/asterisk/agi.py), driven over loopback by a fake Asterisk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import pytest

from ivr.asterisk.agi import MAX_HEADER_BYTES, AgiHeaders, FastAgiServer, quote

HEADERS = {
    "agi_network": "yes", "agi_network_script": "route", "agi_request": "agi://127.0.0.1:4573/route",
    "agi_channel": "PJSIP/carrier-00000010", "agi_language": "en", "agi_type": "PJSIP",
    "agi_uniqueid": "1795366780.16", "agi_version": "22.0.0", "agi_callerid": "13800000000",
    "agi_calleridname": "citizen", "agi_dnid": "05585551001", "agi_context": "ivr-route",
    "agi_extension": "s", "agi_priority": "9", "agi_enhanced": "0.0", "agi_accountcode": "",
    "agi_threadid": "140000000000000", "agi_arg_1": "05585551001",
}


def test_quote() -> None:
    assert quote("plain") == '"plain"'
    assert quote('say "hi"') == '"say \\"hi\\""'
    assert quote("a\\b") == '"a\\\\b"'
    assert quote('\\"') == '"\\\\\\""'
    assert quote("line1\nline2\r\nx") == '"line1 line2  x"'
    assert quote("张三 局长") == '"张三 局长"'
    assert quote("") == '""'
    assert "\n" not in quote("\n" * 5) and "\r" not in quote("\r")


class FakeAsterisk:
    """One AGI session as Asterisk runs it: headers, then reads commands and answers each."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.commands: list[str] = []
        self.answer_delays: list[float] = []

    async def session(self, headers: Mapping[str, str] | bytes, reply: str = "200 result=1",
                      reply_delay: float = 0.0) -> list[str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            if isinstance(headers, bytes):
                writer.write(headers)
            else:
                writer.write("".join(f"{k}: {v}\n" for k, v in headers.items()).encode("utf-8") + b"\n")
            await writer.drain()
            got: list[str] = []
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), 3)
                except ConnectionError:
                    break
                if not line:
                    break
                got.append(line.decode("utf-8").rstrip("\n"))
                # nothing else may arrive before we answer (one command at a time)
                try:
                    extra = await asyncio.wait_for(reader.read(1), 0.03)
                except TimeoutError:
                    extra = b""
                if extra:
                    got.append("PIPELINED:" + extra.decode("utf-8", "replace"))
                    break
                if reply_delay:
                    await asyncio.sleep(reply_delay)
                writer.write((reply + "\n").encode())
                await writer.drain()
            return got
        finally:
            writer.close()


# what happened to the "slow" handler: started, then cancelled (cut off) or finished
SLOW: list[str] = []


@pytest.fixture
async def served(unused_tcp_port: int) -> AsyncIterator[tuple[FastAgiServer, FakeAsterisk, list[AgiHeaders]]]:
    seen: list[AgiHeaders] = []
    SLOW.clear()

    async def route(headers: AgiHeaders) -> Mapping[str, str]:
        seen.append(headers)
        return {"IVR_RESULT": "route", "IVR_INFO": '12^direct^zh^张三 "局长"',
                "IVR_PLAN": "direct^PJSIP/o-12^20|voicemail^12^120"}

    async def slow(headers: AgiHeaders) -> Mapping[str, str]:
        SLOW.append("started")
        try:
            await asyncio.Event().wait()  # never answers: only the server's bound ends it
        except asyncio.CancelledError:
            SLOW.append("cancelled")
            raise
        return {"IVR_RESULT": "late"}

    async def broken(headers: AgiHeaders) -> Mapping[str, str]:
        raise RuntimeError("boom")

    server = FastAgiServer({"route": route, "slow": slow, "broken": broken}, answer_timeout=0.3)
    await server.start("127.0.0.1", unused_tcp_port)
    try:
        yield server, FakeAsterisk(unused_tcp_port), seen
    finally:
        await server.close()


async def test_route_sets_variables_one_at_a_time(served: tuple[FastAgiServer, FakeAsterisk, list[AgiHeaders]]) -> None:
    server, ast, seen = served
    got = await ast.session(HEADERS)
    assert got == ['SET VARIABLE IVR_RESULT "route"',
                   'SET VARIABLE IVR_INFO "12^direct^zh^张三 \\"局长\\""',
                   'SET VARIABLE IVR_PLAN "direct^PJSIP/o-12^20|voicemail^12^120"']
    assert seen == [HEADERS]
    assert server.stats == {"requests": 1, "answered": 1, "timeouts": 0, "errors": 0}


async def test_headers_parsed(served: tuple[FastAgiServer, FakeAsterisk, list[AgiHeaders]]) -> None:
    _, ast, seen = served
    raw = (b"agi_network: yes\r\nagi_network_script: route\r\nagi_arg_1: +865585551001\r\n"
           b"agi_calleridname: \xe5\xbc\xa0\xe4\xb8\x89\r\nagi_empty: \r\n\r\n")
    await ast.session(raw)
    assert seen == [{"agi_network": "yes", "agi_network_script": "route",
                     "agi_arg_1": "+865585551001", "agi_calleridname": "张三", "agi_empty": ""}]


async def test_waits_for_each_answer(served: tuple[FastAgiServer, FakeAsterisk, list[AgiHeaders]]) -> None:
    server, ast, _ = served
    got = await ast.session(HEADERS, reply_delay=0.02)
    assert len(got) == 3 and not any(g.startswith("PIPELINED") for g in got)
    assert server.stats["answered"] == 1


async def test_refused_set_variable_stops(served: tuple[FastAgiServer, FakeAsterisk, list[AgiHeaders]]) -> None:
    server, ast, _ = served
    got = await ast.session(HEADERS, reply="510 Invalid or unknown command")
    assert got == ['SET VARIABLE IVR_RESULT "route"']
    assert server.stats["errors"] == 1 and server.stats["answered"] == 0


async def test_slow_handler_cut_off(served: tuple[FastAgiServer, FakeAsterisk, list[AgiHeaders]]) -> None:
    """A handler that never answers is cancelled by the server's bound and the connection
    closed without a command (the dialplan then uses the mirror). Without the bound the fake
    Asterisk's read would time out (3 s) and fail this test."""
    server, ast, _ = served
    got = await ast.session({**HEADERS, "agi_network_script": "slow"})
    assert got == []
    assert SLOW == ["started", "cancelled"]
    assert server.stats["timeouts"] == 1 and server.stats["answered"] == 0


async def test_headers_never_finished_cut_off(served: tuple[FastAgiServer, FakeAsterisk, list[AgiHeaders]]) -> None:
    server, ast, _ = served
    got = await ast.session(b"agi_network: yes\nagi_network_script: route\n")  # no blank line
    assert got == [] and server.stats["timeouts"] == 1


@pytest.mark.parametrize("script", ["nope", "", "Route"])
async def test_unknown_script(served: tuple[FastAgiServer, FakeAsterisk, list[AgiHeaders]], script: str) -> None:
    server, ast, seen = served
    got = await ast.session({**HEADERS, "agi_network_script": script})
    assert got == [] and seen == []
    assert server.stats["errors"] == 1 and server.stats["answered"] == 0


async def test_handler_exception(served: tuple[FastAgiServer, FakeAsterisk, list[AgiHeaders]]) -> None:
    server, ast, _ = served
    assert await ast.session({**HEADERS, "agi_network_script": "broken"}) == []
    assert server.stats["errors"] == 1


async def test_oversized_headers(served: tuple[FastAgiServer, FakeAsterisk, list[AgiHeaders]]) -> None:
    server, ast, seen = served
    many = {f"agi_x{i}": "y" * 100 for i in range(MAX_HEADER_BYTES // 100 + 5)}
    got = await ast.session({**HEADERS, **many})
    assert got == [] and seen == []
    assert server.stats["errors"] == 1


async def test_one_huge_header_line(served: tuple[FastAgiServer, FakeAsterisk, list[AgiHeaders]]) -> None:
    server, ast, seen = served
    got = await ast.session(b"agi_network_script: route\nagi_x: " + b"y" * 100_000 + b"\n\n")
    assert got == [] and seen == []
    assert server.stats["errors"] + server.stats["timeouts"] == 1


async def test_client_disconnects_early(served: tuple[FastAgiServer, FakeAsterisk, list[AgiHeaders]]) -> None:
    server, ast, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", ast.port)
    writer.write(b"agi_network: yes\n")
    await writer.drain()
    writer.close()
    for _ in range(500):  # until the server has seen the early close (an observable counter)
        if server.stats["errors"]:
            break
        await asyncio.sleep(0.01)
    assert server.stats["errors"] == 1 and server.stats["answered"] == 0


async def test_concurrent_sessions(served: tuple[FastAgiServer, FakeAsterisk, list[AgiHeaders]]) -> None:
    server, ast, seen = served
    results = await asyncio.gather(*(ast.session({**HEADERS, "agi_arg_1": str(i)}) for i in range(20)))
    assert all(len(r) == 3 for r in results)
    assert sorted(int(h["agi_arg_1"]) for h in seen) == list(range(20))
    assert server.stats["answered"] == 20


async def test_close_stops_listening(unused_tcp_port: int) -> None:
    async def route(h: AgiHeaders) -> Mapping[str, str]:
        return {}

    server = FastAgiServer({"route": route})
    await server.start("127.0.0.1", unused_tcp_port)
    got = await FakeAsterisk(unused_tcp_port).session(HEADERS)
    assert got == [] and server.stats["answered"] == 1  # no variables: nothing to set
    await server.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", unused_tcp_port)
    await server.close()  # idempotent


@pytest.mark.parametrize("value", [
    "1380000\r\nagi_arg_1: 05585559999",  # a variable injected: agi_arg_1 twice
    "1380000\nLinkedID: 1.1",  # a line that is not an AGI variable
    "1380000\nagi_network_script: slow",
])
async def test_line_break_in_a_value_refused(served: tuple[FastAgiServer, FakeAsterisk, list[AgiHeaders]],
                                             value: str) -> None:
    server, ast, seen = served
    raw = (b"agi_network: yes\nagi_network_script: route\nagi_arg_1: 05585551001\n"
           b"agi_callerid: " + value.encode() + b"\n\n")
    assert await ast.session(raw) == [] and seen == []
    assert server.stats["errors"] == 1


async def test_a_route_with_its_own_limit_may_answer_later(unused_tcp_port: int) -> None:
    """``limits``: a route allowed longer than ``answer_timeout`` (a feature code writes the
    database) answers after it; the other routes keep the short bound."""
    async def feature(headers: AgiHeaders) -> Mapping[str, str]:
        await asyncio.sleep(0.4)
        return {"IVR_FEATURE": "meeting"}

    server = FastAgiServer({"feature": feature, "route": feature}, answer_timeout=0.2,
                           limits={"feature": 3.0})
    await server.start("127.0.0.1", unused_tcp_port)
    try:
        ast = FakeAsterisk(unused_tcp_port)
        assert await ast.session({**HEADERS, "agi_network_script": "feature"}) == [
            'SET VARIABLE IVR_FEATURE "meeting"']
        assert await ast.session({**HEADERS, "agi_network_script": "route"}) == []
        assert (server.stats["answered"], server.stats["timeouts"]) == (1, 1)
    finally:
        await server.close()
