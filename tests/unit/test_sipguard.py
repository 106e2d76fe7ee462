"""The SIP brute-force guard's counting and its bans in the database (the end-to-end proof on
real Asterisk is tests/e2e/test_sip_security.py)."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.core.config import Config, ConfigError
from ivr.core.errors import UnknownBan
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade_async
from ivr.sipguard import service
from ivr.sipguard.counter import FailureCounter, source_address


def test_source_address_of_security_events() -> None:
    assert source_address("IPV4/UDP/203.0.113.7/5060") == "203.0.113.7"
    assert source_address("IPV6/UDP/2001:db8::1/5060") == "2001:db8::1"
    for bad in ("", "IPV4/UDP", "IPV4/UDP/not-an-address/5060", "IPV4/UDP/1.2.3.256/1"):
        assert source_address(bad) is None


def test_failures_in_the_window_ban_once() -> None:
    c = FailureCounter(3, 60.0, [ipaddress.ip_network("192.0.2.0/24"),
                                 ipaddress.ip_network("2001:db8::/32")])
    assert [c.failed("203.0.113.7", t) for t in (0.0, 10.0)] == [None, None]
    assert c.failed("203.0.113.8", 11.0) is None  # another source counts on its own
    assert c.failed("203.0.113.7", 20.0) == 3
    assert c.failed("203.0.113.7", 21.0) is None  # starts again after a ban
    # failures older than the window are forgotten
    assert [c.failed("203.0.113.9", t) for t in (0.0, 50.0, 100.0, 130.0)] == [None] * 4
    # never the exempt networks (carrier, trusted), IPv4 or IPv6, however many failures
    for address in ("192.0.2.10", "2001:db8::5"):
        assert all(c.failed(address, float(t)) is None for t in range(10))


def test_bans_config_is_checked() -> None:
    assert Config.build(bans={"trusted": "10.0.0.0/8, 192.0.2.1"}).bans.trusted == (
        "10.0.0.0/8", "192.0.2.1")
    with pytest.raises(ConfigError, match=r"\[bans\] trusted"):
        Config.build(bans={"trusted": ["10.0.0.0/33"]})
    with pytest.raises(ConfigError, match="positive"):
        Config.build(bans={"failures": 0})
    with pytest.raises(ConfigError, match=r"\[carrier\] match"):
        Config.build(carrier={"match": []})


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Db]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"
    await upgrade_async(url)
    engine = create_engine(Config.build(database={"url": url}))
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_bans_in_force_lift_and_limit(db: Db) -> None:
    a = await service.ban(db, "203.0.113.7", 5, seconds=600, node="n1", max_active=2)
    assert a is not None and await service.ban(db, "203.0.113.7", 5, seconds=600, node="n1",
                                               max_active=2) is None  # already banned
    b = await service.ban(db, "203.0.113.8", 5, seconds=900, node="n1", max_active=2)
    assert b is not None
    assert [x.address for x in await service.active_bans(db)] == ["203.0.113.7", "203.0.113.8"]
    # a third ban beyond max_active ends the one expiring first
    await service.ban(db, "203.0.113.9", 5, seconds=1200, node="n1", max_active=2)
    assert [x.address for x in await service.active_bans(db)] == ["203.0.113.8", "203.0.113.9"]
    lifted = await service.lift(db, b.id, "admin")
    assert lifted.lifted_by == "admin"
    assert [x.address for x in await service.active_bans(db)] == ["203.0.113.9"]
    with pytest.raises(UnknownBan):
        await service.lift(db, 999, "admin")
    assert len(await service.recent_bans(db)) == 3
    first = await service.next_expiry(db)
    assert first is not None and first.tzinfo is not None
