"""Each node's mirror and change-feed state for admins (issue 16, ivr/db/nodes.py): published
by every controller's health monitor into the shared database, read by whichever node serves
the page — the alerts page's table (admins only) and a banner on the directory while a node
is behind. Through the real app: its own monitor publishes its node."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ivr.accounts import services as accounts
from ivr.db import nodes
from ivr.db.feed import read_revisions
from ivr.http.keys import CONFIG, DB
from tests.e2e.routing_helpers import eventually
from tests.unit.test_web_authz import Env, env  # noqa: F401


async def _page(e: Env, role: str, path: str, lang: str = "zh") -> str:
    db = e.app[DB]
    user = next(u for u in await accounts.list_users(db) if u.username == f"u-{role}")
    key, _ = await accounts.open_session(db, user.id)
    e.client.session.cookie_jar.clear()
    r = await e.client.get(path, cookies={"ivr_session": key, "ivr_lang": lang})
    assert r.status == 200, path
    return await r.text()


def _row(html: str, node: str) -> str:
    start = html.index(f'id="node-{node}"')
    return html[start:html.index("</tr>", start)]


def test_a_state_is_ok_only_in_sync_up_to_date_and_fresh() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    value = {**nodes.record(True, True, {"routing": 5}, {"routing": 5}), "at": now.isoformat()}
    ok = nodes._state("a", value, now)
    assert ok is not None and ok.ok and ok.behind == []
    behind = nodes._state("b", {**value, "seen": {"routing": 4}}, now)
    assert behind is not None and behind.behind == ["routing"] and not behind.ok
    out = nodes._state("c", {**value, "mirror_in_sync": False}, now)
    assert out is not None and not out.ok
    stale = nodes._state("d", value, now + nodes.STALE_AFTER + timedelta(seconds=1))
    assert stale is not None and stale.stale and not stale.ok
    assert nodes._state("e", {"at": "yesterday"}, now) is None  # a broken record is skipped


async def test_admins_see_every_nodes_mirror_and_feed(env: Env) -> None:  # noqa: F811
    db = env.app[DB]
    me = env.app[CONFIG].node.name

    async def mine() -> list[nodes.NodeState]:
        return [s for s in await nodes.node_states(db) if s.node == me]
    [own] = await eventually(mine, timeout=20)  # this app's monitor published its node
    assert set(own.current) == set(await read_revisions(db))  # the feed's position, per kind
    # another node sharing the database, its mirror out of sync and a routing change unapplied
    revs = await read_revisions(db)
    ahead = {**revs, "routing": revs.get("routing", 0) + 1}
    await nodes.publish(db, "node-b", nodes.record(False, True, revs, ahead))
    html = await _page(env, "admin", "/admin/alerts")
    row = _row(html, "node-b")
    assert 'data-mirror="out_of_sync"' in row and 'data-behind="routing"' in row
    assert "未同步" in row and "落后" in row and "路由" in row
    assert f'id="node-{me}"' in html
    en = _row(await _page(env, "admin", "/admin/alerts", "en"), "node-b")
    assert "out of sync" in en and "behind" in en
    banner = await _page(env, "admin", "/admin")
    assert 'id="nodes-behind"' in banner and "<code>node-b</code>" in banner[
        banner.index('id="nodes-behind"'):][:600]
    # supervisors read the alerts, not the nodes
    assert 'id="nodes"' not in await _page(env, "supervisor", "/admin/alerts")
    # node-b catches up: no banner for it (the page reads the database, whichever node serves)
    await nodes.publish(db, "node-b", nodes.record(True, True, revs, revs))
    assert "<code>node-b</code>" not in await _page(env, "admin", "/admin")
    row = _row(await _page(env, "admin", "/admin/alerts"), "node-b")
    assert 'data-mirror="in_sync"' in row and 'data-behind=""' in row and "已是最新" in row
    # a node that stopped reporting
    await nodes.publish(db, "node-b", nodes.record(True, True, revs, revs),
                        datetime.now(UTC) - nodes.STALE_AFTER - timedelta(minutes=1))
    row = _row(await _page(env, "admin", "/admin/alerts"), "node-b")
    assert 'data-stale="true"' in row and "已停止报告" in row
