"""The AstDB mirror writer (ivr/asterisk/astdb.py) against a fake AMI keeping a dict."""

from __future__ import annotations

import time

import pytest

from ivr.asterisk.ami import AmiDisconnected
from ivr.asterisk.astdb import MirrorWriter


class FakeAmi:
    """The three AstDB calls of AmiClient, on a dict of ``family/key``; records every write."""

    def __init__(self) -> None:
        self.db: dict[str, str] = {}
        self.log: list[tuple[str, str]] = []  # ("put"|"del", key)
        self.down = False

    async def db_put(self, family: str, key: str, value: str) -> None:
        if self.down:
            raise AmiDisconnected("down")
        self.db[f"{family}/{key}"] = value
        self.log.append(("put", key))

    async def db_del(self, family: str, key: str) -> None:
        if self.down:
            raise AmiDisconnected("down")
        self.db.pop(f"{family}/{key}", None)
        self.log.append(("del", key))

    async def db_tree(self, family: str) -> dict[str, str]:
        if self.down:
            raise AmiDisconnected("down")
        prefix = f"{family}/"
        return {k[len(prefix):]: v for k, v in self.db.items() if k.startswith(prefix)}

    def tree(self) -> dict[str, str]:
        return {k[4:]: v for k, v in self.db.items() if k.startswith("ivr/")}


ENTRIES = {
    "meta/tz": "Asia/Shanghai",
    "o/1/name": "张三 局长", "o/1/mode": "direct", "o/1/win": "", "o/1/effective": "direct",
    "o/1/plan/direct": "direct^PJSIP/o-1^20|voicemail^1^120",
    "num/05585551001": "1", "num/865585551001": "1",
}


@pytest.fixture
def ami() -> FakeAmi:
    return FakeAmi()


async def test_full_sync_writes_everything_and_synced_last(ami: FakeAmi) -> None:
    w = MirrorWriter(ami)  # type: ignore[arg-type]
    before = int(time.time())
    await w.full_sync(ENTRIES)
    tree = ami.tree()
    synced = tree.pop("meta/synced")
    assert tree == ENTRIES
    assert before <= int(synced) <= int(time.time())
    assert ami.log[-1] == ("put", "meta/synced")
    puts = [k for op, k in ami.log if op == "put"]
    # officials before the numbers that point at them
    assert max(i for i, k in enumerate(puts) if k.startswith("o/")) < min(
        i for i, k in enumerate(puts) if k.startswith("num/"))
    assert w.in_sync and w.full_syncs == 1 and w.written == ENTRIES


async def test_full_sync_deletes_stale_and_keeps_others(ami: FakeAmi) -> None:
    ami.db.update({"ivr/o/9/name": "old", "ivr/num/05585550009": "9", "ivr/o/1/mode": "pool",
                   "ivr/o/1/name": "张三 局长", "ivr/meta/synced": "1", "other/x": "keep"})
    w = MirrorWriter(ami)  # type: ignore[arg-type]
    await w.full_sync(ENTRIES)
    tree = ami.tree()
    assert "o/9/name" not in tree and "num/05585550009" not in tree
    assert tree["o/1/mode"] == "direct"
    assert ami.db["other/x"] == "keep"
    assert ("put", "o/1/name") not in ami.log  # already right: not rewritten
    dels = [k for op, k in ami.log if op == "del"]
    assert sorted(dels) == ["num/05585550009", "o/9/name"]
    assert dels.index("num/05585550009") < dels.index("o/9/name")  # numbers go first
    assert ("del", "meta/synced") not in ami.log
    assert ami.log[-1] == ("put", "meta/synced") and tree["meta/synced"] != "1"
    # the mirror is never empty during the sync: nothing was deleted before the writes
    first_del = next(i for i, (op, _) in enumerate(ami.log) if op == "del")
    assert all(op == "put" for op, _ in ami.log[:first_del])


async def test_apply_before_sync_returns_false(ami: FakeAmi) -> None:
    w = MirrorWriter(ami)  # type: ignore[arg-type]
    assert await w.apply(ENTRIES) is False
    assert ami.log == [] and ami.db == {}


async def test_apply_writes_only_differences(ami: FakeAmi) -> None:
    w = MirrorWriter(ami)  # type: ignore[arg-type]
    await w.full_sync(ENTRIES)
    ami.log.clear()
    assert await w.apply(dict(ENTRIES)) is True
    assert ami.log == []  # nothing changed: nothing written
    changed = {k: v for k, v in ENTRIES.items() if k != "num/865585551001"}
    changed["o/1/effective"] = "pool"
    changed["o/2/name"] = "李四"
    assert await w.apply(changed) is True
    assert sorted(ami.log) == sorted([("put", "o/1/effective"), ("put", "o/2/name"),
                                      ("del", "num/865585551001")])
    tree = ami.tree()
    tree.pop("meta/synced")
    assert tree == changed
    assert w.written == changed


async def test_apply_when_ami_down_needs_full_sync(ami: FakeAmi) -> None:
    w = MirrorWriter(ami)  # type: ignore[arg-type]
    await w.full_sync(ENTRIES)
    ami.down = True
    assert await w.apply({**ENTRIES, "o/1/mode": "pool"}) is False
    assert not w.in_sync
    ami.down = False
    assert await w.apply({**ENTRIES, "o/1/mode": "pool"}) is False  # waits for the next login
    await w.full_sync({**ENTRIES, "o/1/mode": "pool"})
    assert ami.tree()["o/1/mode"] == "pool" and w.in_sync and w.full_syncs == 2


async def test_full_sync_failure_leaves_out_of_sync(ami: FakeAmi) -> None:
    w = MirrorWriter(ami)  # type: ignore[arg-type]
    await w.full_sync(ENTRIES)
    ami.down = True
    with pytest.raises(AmiDisconnected):
        await w.full_sync(ENTRIES)
    assert not w.in_sync and w.full_syncs == 1
    assert await w.apply(ENTRIES) is False


async def test_resync_after_asterisk_lost_its_db(ami: FakeAmi) -> None:
    w = MirrorWriter(ami)  # type: ignore[arg-type]
    await w.full_sync(ENTRIES)
    ami.db.clear()  # Asterisk restarted with an empty astdb
    await w.full_sync(ENTRIES)
    tree = ami.tree()
    tree.pop("meta/synced")
    assert tree == ENTRIES
