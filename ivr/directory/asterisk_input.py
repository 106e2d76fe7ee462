"""The deployment's Asterisk configuration from the directory: phones, operators and pools read
from the database into the renderer's plain input (``ivr.asterisk.render`` stays pure)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from sqlalchemy import select

from ivr.asterisk.render import Phone, QueueDef, RenderInput, render_all, write_all
from ivr.core.config import Config
from ivr.core.config_announce import PoolAnnounce
from ivr.core.timeutil import utcnow
from ivr.db.models import Device, Operator, Pool
from ivr.db.security_models import SipBan
from ivr.db.session import Db, create_engine, make_sessionmaker
from ivr.db.settings import current_timezone


async def load_render_input(db: Db, config: Config) -> RenderInput:
    """The deployment's phones and pools, from the database."""
    async with db() as session:
        devices = (await session.scalars(select(Device).where(Device.kind == "sip")
                                         .order_by(Device.id))).all()
        operators = (await session.scalars(select(Operator).order_by(Operator.id))).all()
        pools = (await session.scalars(select(Pool).order_by(Pool.id))).all()
        banned = (await session.scalars(  # in force: not lifted, not expired (ivr/sipguard)
            select(SipBan.address).where(SipBan.lifted_at.is_(None), SipBan.expires_at > utcnow())
            .order_by(SipBan.id))).all()
    phones = [Phone(d.endpoint, d.sip_ha1 or "", d.static_contact) for d in devices if d.endpoint]
    phones += [Phone(o.endpoint, o.sip_ha1, o.static_contact) for o in operators]
    queues = [QueueDef(p.queue, p.strategy, announce=PoolAnnounce.resolve(
        config.announce, p.announce_position, p.announce_holdtime, p.announce_every))
        for p in pools]
    if not any(q.name == f"pool-{config.routing.default_pool}" for q in queues):
        queues.append(QueueDef(f"pool-{config.routing.default_pool}",
                               announce=PoolAnnounce.resolve(config.announce)))
    return RenderInput(config, tuple(phones), tuple(queues), await current_timezone(db),
                       tuple(dict.fromkeys(banned)))


def cli_render(args: argparse.Namespace) -> int:
    """``ivr render --out DIR``: write the deployment's Asterisk configuration."""
    config = Config.load(getattr(args, "config", None))

    async def go() -> dict[str, str]:
        engine = create_engine(config)
        try:
            return render_all(await load_render_input(make_sessionmaker(engine), config))
        finally:
            await engine.dispose()

    files = asyncio.run(go())
    write_all(files, Path(args.out))
    print(f"wrote {len(files)} files to {args.out}")
    return 0
