"""The admin's directory pages: pools and operators with their queue state, and a new pool."""

from __future__ import annotations

from aiohttp import web

from ivr.core.config_announce import PoolAnnounce
from ivr.core.errors import InvalidForm, IvrError
from ivr.core.ids import parse_id
from ivr.db.models import Pool
from ivr.directory import services as directory
from ivr.http import DB, ON_DIRECTORY_CHANGE, ROUTES, Routes, require_identity
from ivr.http.keys import CONFIG, PHONE_STATUS_TEXTS, phone_status
from ivr.http.pages import MESSAGES, NAV, error_text, render, t

ADMIN = ["admin"]
TEXTS: dict[str, tuple[str, str]] = {
    "directory.pool": ("话务组", "Pool"),
    "directory.operators": ("话务员与话务组", "Operators and pools"),
    "directory.name": ("姓名", "Name"),
    "directory.queue": ("队列", "Queue"),
    "directory.strategy": ("策略", "Strategy"),
    "directory.max_wait": ("最长等待(秒)", "Max wait (s)"),
    "directory.create": ("创建", "Create"),
    "directory.endpoint": ("分机", "Endpoint"),
    "directory.state": ("状态", "State"),
    "directory.pause_reason": ("暂停原因", "Pause reason"),
    "directory.state.ready": ("已登录·就绪", "logged in, ready"),
    "directory.state.paused": ("暂停", "paused"),
    "directory.state.logged_out": ("已退出", "logged out"),
    "directory.phone": ("电话注册", "Phone"),
    # what a caller waiting in the pool hears (issue 15): resolved with the [announce] defaults
    "directory.announce": ("排队播报", "Announcements"),
    "directory.announce.position": ("排队位置", "place in the queue"),
    "directory.announce.holdtime": ("预计等待", "expected wait"),
    "directory.announce.every": ("每{n}秒", "every {n} s"),
    "directory.announce.none": ("不播报", "none"),
    "directory.announce.and": ("、", ", "),
    "directory.announce.then": ("，", ", "),
}
routes = Routes("directory")


def announce_text(request: web.Request, pool: Pool) -> str:
    """``排队位置、预计等待，每45秒`` (the pool's own settings, else the [announce] defaults)."""
    a = PoolAnnounce.resolve(request.config_dict[CONFIG].announce, pool.announce_position,
                             pool.announce_holdtime, pool.announce_every)
    said = [t(request, f"directory.announce.{k}") for k in ("position", "holdtime")
            if getattr(a, k)]
    if not said:
        return t(request, "directory.announce.none")
    return (t(request, "directory.announce.and").join(said) + t(request, "directory.announce.then")
            + t(request, "directory.announce.every").format(n=a.every))


async def operators_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    db = request.config_dict[DB]
    pools, ops = await directory.list_pools(db), await directory.list_operators(db)
    pool_rows = [{"name": p.name, "queue": p.queue, "strategy": t(request, f"strategy.{p.strategy}"),
                  "max_wait": p.max_wait, "announce": announce_text(request, p),
                  "operators": sorted(o.name for o in p.operators)}
                 for p in pools]
    phones = await phone_status(request, [o.endpoint for o in ops])
    operator_rows = [{"name": o.name, "endpoint": o.endpoint, "pool": o.pool.name if o.pool else "",
                      "state": o.state, "state_text": t(request, f"directory.state.{o.state}"),
                      "reason": o.paused_reason,
                      "phone": t(request, f"phone.status.{phones[o.endpoint]}")} for o in ops]
    return render(request, "directory/operators.html",
                  {"pools": pool_rows, "operators": operator_rows},
                  title="directory.operators", error=error, status=status)


@routes.get("/admin/operators", roles=ADMIN)
async def admin_operators(request: web.Request) -> web.Response:
    return await operators_page(request)


@routes.post("/admin/pools", roles=ADMIN)
async def post_pool(request: web.Request) -> web.Response:
    """Create an operator pool (Asterisk's queues are rendered and reloaded)."""
    form = await request.post()
    raw_wait = str(form.get("max_wait", "60")).strip()
    try:
        max_wait = parse_id(raw_wait)
        if max_wait is None:
            raise InvalidForm("max wait must be whole seconds", {"field": "max_wait"})
        await directory.create_pool(request.config_dict[DB], str(form.get("name", "")).strip(),
                                    require_identity(request).actor, max_wait=max_wait)
    except IvrError as exc:
        return await operators_page(request, error=error_text(request, exc), status=exc.status)
    hook = request.config_dict.get(ON_DIRECTORY_CHANGE)
    if hook is not None:
        await hook()
    raise web.HTTPSeeOther("/admin/operators")


def setup(app: web.Application) -> None:
    app[MESSAGES].add(TEXTS)
    app[MESSAGES].add(PHONE_STATUS_TEXTS)
    app[NAV].add(ADMIN, "/admin/operators", "directory.operators")
    app[ROUTES].add(app, routes)
