"""Directory import: upsert pools, operators and officials from a parsed directory file.

* idempotent: pools by name, operators by endpoint, officials by slug; importing the same file
  twice changes nothing the second time (no audit entries, no version bumps);
* all-or-nothing: one transaction, any error rolls everything back and names the row/field;
* officials listed in the file get exactly the numbers and devices listed (when the file lists
  them); officials not in the file are left alone (never deleted);
* optional keys left out of the file keep their current value (e.g. a mode switched by an admin);
* new SIP devices and operators get a random digest secret;
* every created or changed policy is audited with the given actor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ivr.core.errors import Conflict, InvalidDirectory, InvalidSuperior, NoDeputy
from ivr.core.sipauth import sip_ha1
from ivr.db.models import Device, Official, Operator, Pool, PublishedNumber, RoutingPolicy, ScheduleWindow, Setting
from ivr.db.session import Db
from ivr.directory.services import audit, clean_actor, new_secret, set_pool_fields
from ivr.directory.spec import DirectorySpec, OfficialSpec, load_file, parse_directory

__all__ = ["ImportResult", "import_directory", "import_text", "import_file"]

OnChange = Callable[[int], Awaitable[object]]
IMPORT_REASON = "directory import"


@dataclass(slots=True)
class ImportResult:
    created: dict[str, int] = field(default_factory=lambda: {"pools": 0, "operators": 0, "officials": 0})
    updated: dict[str, int] = field(default_factory=lambda: {"pools": 0, "operators": 0, "officials": 0})
    changed_officials: list[int] = field(default_factory=list)  # ids, created or changed
    new_credentials: dict[str, str] = field(default_factory=dict)  # endpoint -> generated secret
    dry_run: bool = False

    def as_dict(self, *, secrets: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"created": self.created, "updated": self.updated,
                               "changed_officials": self.changed_officials,
                               "new_endpoints": sorted(self.new_credentials), "dry_run": self.dry_run}
        if secrets:
            out["new_credentials"] = dict(self.new_credentials)
        return out


def _windows_of(o: Official) -> list[dict[str, str]]:
    return [{"days": w.days, "start": w.start, "end": w.end, "mode": w.mode}
            for w in sorted(o.windows, key=lambda w: w.id or 0)]


class _Importer:
    def __init__(self, session: AsyncSession, spec: DirectorySpec, actor: str) -> None:
        self.s = session
        self.spec = spec
        self.actor = actor
        self.result = ImportResult()
        self.pools: dict[str, Pool] = {}
        self.officials: dict[str, Official] = {}
        self.touched: set[str] = set()

    async def run(self) -> ImportResult:
        await self._settings()
        await self._pools()
        await self._operators()
        await self._officials()
        await self.s.flush()
        self.result.changed_officials = sorted(self.officials[slug].id for slug in self.touched)
        return self.result

    async def _settings(self) -> None:
        for key, value in self.spec.settings.items():
            row = await self.s.get(Setting, key)
            if row is None:
                self.s.add(Setting(key=key, value=value))
                audit(self.s, self.actor, None, key, None, value, IMPORT_REASON)
            elif row.value != value:
                audit(self.s, self.actor, None, key, row.value, value, IMPORT_REASON)
                row.value = value

    async def _pool(self, name: str, where: str) -> Pool:
        if name not in self.pools:
            pool = (await self.s.execute(select(Pool).where(Pool.name == name))).scalar_one_or_none()
            if pool is None:
                raise InvalidDirectory(f"unknown pool {name!r} (not in the file nor in the database)",
                                       where=where)
            self.pools[name] = pool
        return self.pools[name]

    async def _pools(self) -> None:
        names = [p.name for p in self.spec.pools]
        existing = {p.name: p for p in (await self.s.execute(select(Pool).where(Pool.name.in_(names)))).scalars()}
        for spec in self.spec.pools:
            pool = existing.get(spec.name)
            if pool is None:
                pool = Pool(name=spec.name)
                self.s.add(pool)
                self.result.created["pools"] += 1
                set_pool_fields(pool, spec.strategy, spec.max_wait, spec.announce)
            elif set_pool_fields(pool, spec.strategy, spec.max_wait, spec.announce):
                self.result.updated["pools"] += 1
            self.pools[spec.name] = pool

    async def _operators(self) -> None:
        endpoints = [o.endpoint for o in self.spec.operators]
        existing = {o.endpoint: o for o in (await self.s.execute(
            select(Operator).where(Operator.endpoint.in_(endpoints)))).scalars()}
        taken = (await self.s.execute(select(Device.endpoint, Official.slug)
                                      .join(Official, Device.official_id == Official.id)
                                      .where(Device.endpoint.in_(endpoints)))).all()
        leaving = {o.slug for o in self.spec.officials if "devices" in o.given}
        for endpoint, slug in taken:
            if slug not in leaving:
                raise Conflict(f"endpoint {endpoint!r} is a device of official {slug!r}",
                               where=f"operators({endpoint})")
        for i, spec in enumerate(self.spec.operators):
            pool = await self._pool(spec.pool, f"operators[{i}].pool")
            op = existing.get(spec.endpoint)
            if op is None:
                secret = new_secret()
                self.s.add(Operator(name=spec.name, endpoint=spec.endpoint,
                                    sip_ha1=sip_ha1(spec.endpoint, secret),
                                    static_contact=spec.static_contact, pool=pool))
                self.result.new_credentials[spec.endpoint] = secret
                self.result.created["operators"] += 1
            elif (op.name, op.static_contact, op.pool_id) != (spec.name, spec.static_contact, pool.id):
                op.name, op.static_contact, op.pool = spec.name, spec.static_contact, pool
                self.result.updated["operators"] += 1

    async def _officials(self) -> None:
        slugs = [o.slug for o in self.spec.officials]
        query = select(Official).where(Official.slug.in_(slugs)).options(
            selectinload(Official.policy).selectinload(RoutingPolicy.pool),
            selectinload(Official.windows), selectinload(Official.deputy))
        existing = {o.slug: o for o in (await self.s.execute(query)).scalars()}
        for spec in self.spec.officials:
            official = existing.get(spec.slug)
            if official is None:
                # relations set before the first flush: no lazy loads on a persistent object later
                pool = await self._pool(spec.pool, f"{spec.where}.pool") if spec.pool else None
                official = Official(slug=spec.slug, name=spec.name, title=spec.title,
                                    department=spec.department, language=spec.language,
                                    availability=spec.availability,
                                    policy=RoutingPolicy(mode=spec.mode, chain=spec.chain,
                                                         ring_timeout=spec.ring_timeout, pool=pool,
                                                         version=1),
                                    windows=[ScheduleWindow(**w.as_dict()) for w in spec.schedule])
                self.s.add(official)
                self.result.created["officials"] += 1
                self.touched.add(spec.slug)
            else:
                before = (official.name, official.title, official.department, official.language)
                official.name = spec.name
                for key in ("title", "department", "language"):
                    if key in spec.given:
                        setattr(official, key, getattr(spec, key))
                if before != (official.name, official.title, official.department, official.language):
                    self.touched.add(spec.slug)
            self.officials[spec.slug] = official
        await self.s.flush()  # ids for new officials
        await self._numbers()
        await self._menus()
        await self._devices()
        for spec in self.spec.officials:
            await self._policy(spec, self.officials[spec.slug], spec.slug not in existing)
        await self._superiors()
        for spec in self.spec.officials:
            if spec.slug in self.touched and spec.slug in existing:
                self.result.updated["officials"] += 1

    async def _numbers(self) -> None:
        owner = {n: o.slug for o in self.spec.officials if "numbers" in o.given for n in o.numbers}
        forms = {n: o.published.get(n) for o in self.spec.officials if "numbers" in o.given
                 for n in o.numbers}
        replaced = {self.officials[o.slug].id for o in self.spec.officials if "numbers" in o.given}
        if not replaced:
            return
        rows = (await self.s.execute(select(PublishedNumber).where(or_(
            PublishedNumber.number.in_(list(owner)), PublishedNumber.official_id.in_(replaced))))).scalars()
        have: set[str] = set()
        for row in rows:
            slug = owner.get(row.number)
            if slug is None:
                await self.s.delete(row)  # an official of the file lost it
                self._touch_id(row.official_id)
                continue
            target = self.officials[slug]
            if row.official_id != target.id:
                if row.official_id not in replaced:
                    current = await self.s.get(Official, row.official_id)
                    holder = current.slug if current else row.official_id
                    raise Conflict(f"number {row.number} is already published for official {holder!r}",
                                   where=f"{self._where(slug)}.numbers")
                self._touch_id(row.official_id)
                row.official_id = target.id
                self.touched.add(slug)
            if forms.get(row.number) and row.published != forms[row.number]:
                row.published = forms[row.number]  # how it is written: shown, not a change
            have.add(row.number)
        for number, slug in owner.items():
            if number not in have:
                self.s.add(PublishedNumber(number=number, official_id=self.officials[slug].id,
                                           published=forms.get(number)))
                self.touched.add(slug)

    async def _menus(self) -> None:
        """``menu:`` of an official applies to all their published numbers."""
        specs = [o for o in self.spec.officials if "menu" in o.given]
        if not specs:
            return
        await self.s.flush()
        for o in specs:
            rows = (await self.s.execute(select(PublishedNumber).where(
                PublishedNumber.official_id == self.officials[o.slug].id))).scalars()
            for row in rows:
                if row.menu != o.menu:
                    row.menu = o.menu
                    self.touched.add(o.slug)

    async def _devices(self) -> None:
        specs = [o for o in self.spec.officials if "devices" in o.given]
        if not specs:
            return
        replaced = {self.officials[o.slug].id for o in specs}
        endpoint_owner = {d.endpoint: o.slug for o in specs for d in o.devices if d.endpoint}
        ops = (await self.s.execute(select(Operator.endpoint).where(
            Operator.endpoint.in_(list(endpoint_owner))))).scalars().all()
        if ops:
            raise Conflict(f"endpoint {ops[0]!r} is an operator's",
                           where=f"{self._where(endpoint_owner[ops[0]])}.devices")
        rows = list((await self.s.execute(select(Device).where(or_(
            Device.endpoint.in_(list(endpoint_owner)), Device.official_id.in_(replaced))))).scalars())
        by_endpoint = {r.endpoint: r for r in rows if r.endpoint}
        kept: set[int] = set()
        for spec in specs:
            official = self.officials[spec.slug]
            for priority, d in enumerate(spec.devices):
                row: Device | None
                if d.kind == "sip":
                    row = by_endpoint.get(d.endpoint or "")
                    if row is not None and row.official_id != official.id:
                        if row.official_id not in replaced:
                            current = await self.s.get(Official, row.official_id)
                            raise Conflict(f"endpoint {d.endpoint!r} is a device of official "
                                           f"{current.slug if current else row.official_id!r}",
                                           where=f"{spec.where}.devices")
                        self._touch_id(row.official_id)
                        row.official_id = official.id
                        self.touched.add(spec.slug)
                else:
                    row = next((r for r in rows if r.official_id == official.id and r.kind == "mobile"
                                and r.number == d.number and r.id not in kept), None)
                if row is None:
                    secret = new_secret() if d.kind == "sip" else None
                    row = Device(official_id=official.id, kind=d.kind, endpoint=d.endpoint,
                                 number=d.number, static_contact=d.static_contact,
                                 sip_ha1=sip_ha1(d.endpoint, secret) if d.endpoint and secret else None,
                                 priority=priority, confirm=d.confirm)
                    self.s.add(row)
                    if d.endpoint and secret:
                        self.result.new_credentials[d.endpoint] = secret
                    self.touched.add(spec.slug)
                    continue
                kept.add(row.id)
                if (row.priority, row.static_contact, row.confirm) != (priority, d.static_contact,
                                                                        d.confirm):
                    row.priority, row.static_contact, row.confirm = (priority, d.static_contact,
                                                                     d.confirm)
                    self.touched.add(spec.slug)
        for row in rows:
            if row.id not in kept and row.official_id in replaced:
                await self.s.delete(row)
                self._touch_id(row.official_id)

    def _touch_id(self, official_id: int) -> None:
        for slug, o in self.officials.items():
            if o.id == official_id:
                self.touched.add(slug)

    def _where(self, slug: str) -> str:
        return next(o.where for o in self.spec.officials if o.slug == slug)

    async def _deputy(self, spec: OfficialSpec) -> Official | None:
        if spec.deputy is None:
            return None
        if spec.deputy in self.officials:
            return self.officials[spec.deputy]
        deputy = (await self.s.execute(select(Official).where(Official.slug == spec.deputy))).scalar_one_or_none()
        if deputy is None:
            raise InvalidDirectory(f"unknown deputy {spec.deputy!r}", where=f"{spec.where}.deputy")
        return deputy

    async def _superiors(self) -> None:
        """``superior`` of the file's officials (audited); a cycle of superiors is refused."""
        specs = [o for o in self.spec.officials if "superior" in o.given]
        if not specs:
            return
        rows = (await self.s.execute(select(Official.id, Official.slug, Official.superior_id))).all()
        ids = {slug: oid for oid, slug, _ in rows}
        above = {oid: sup for oid, _, sup in rows}
        slugs = {oid: slug for oid, slug, _ in rows}
        for spec in specs:
            if spec.superior is not None and spec.superior not in ids:
                raise InvalidSuperior(f"unknown superior {spec.superior!r}",
                                      where=f"{spec.where}.superior")
            above[ids[spec.slug]] = ids[spec.superior] if spec.superior else None
        for spec in specs:
            chain, cur = [spec.slug], above.get(ids[spec.slug])
            while cur is not None and len(chain) <= len(above):
                chain.append(slugs[cur])
                if cur == ids[spec.slug]:
                    raise InvalidSuperior(f"superiors form a cycle: {' → '.join(chain)}",
                                          where=f"{spec.where}.superior")
                cur = above.get(cur)
        for spec in specs:
            official = self.officials[spec.slug]
            new = above[ids[spec.slug]]
            if official.superior_id != new:
                audit(self.s, self.actor, official.id, "superior",
                      slugs.get(official.superior_id or -1), spec.superior, IMPORT_REASON)
                official.superior_id = new
                self.touched.add(spec.slug)

    async def _policy(self, spec: OfficialSpec, official: Official, created: bool) -> None:
        deputy = await self._deputy(spec) if "deputy" in spec.given else None
        if created:
            official.deputy_id = deputy.id if deputy else None
            audit(self.s, self.actor, official.id, "policy", None, {
                "mode": spec.mode, "chain": spec.chain, "ring_timeout": spec.ring_timeout,
                "pool": spec.pool, "deputy": spec.deputy, "availability": spec.availability,
                "schedule": [w.as_dict() for w in spec.schedule]}, IMPORT_REASON)
            return
        pool = await self._pool(spec.pool, f"{spec.where}.pool") if spec.pool else None
        policy = official.policy
        if policy is None:
            policy = official.policy = RoutingPolicy(mode="direct", ring_timeout=20, version=0)
        changes: list[tuple[str, Any, Any]] = []
        if "mode" in spec.given and policy.mode != spec.mode:
            changes.append(("mode", policy.mode, spec.mode))
            policy.mode = spec.mode
        if "chain" in spec.given and policy.chain != spec.chain:
            changes.append(("chain", policy.chain, spec.chain))
            policy.chain = spec.chain
        if "ring_timeout" in spec.given and policy.ring_timeout != spec.ring_timeout:
            changes.append(("ring_timeout", str(policy.ring_timeout), str(spec.ring_timeout)))
            policy.ring_timeout = spec.ring_timeout
        if "pool" in spec.given and (policy.pool.name if policy.pool else None) != spec.pool:
            changes.append(("pool", policy.pool.name if policy.pool else None, spec.pool))
            policy.pool = pool
        if "deputy" in spec.given and official.deputy_id != (deputy.id if deputy else None):
            if deputy is None and policy.mode == "deputy":
                raise NoDeputy(f"official {official.name} ({official.slug}) is in deputy mode: "
                               "the import would remove their deputy (switch their mode first, "
                               "or keep the deputy)", {"official": official.slug},
                               where=f"{spec.where}.deputy")
            changes.append(("deputy", official.deputy.slug if official.deputy else None, spec.deputy))
            official.deputy_id = deputy.id if deputy else None
        if "availability" in spec.given and official.availability != spec.availability:
            changes.append(("availability", official.availability, spec.availability))
            official.availability = spec.availability
            if (until := official.availability_until) is not None:  # the file's state has no return time
                changes.append(("availability_until", until.isoformat(), None))
                official.availability_until = None
        if "schedule" in spec.given:
            old = _windows_of(official)
            new = [w.as_dict() for w in spec.schedule]
            if old != new:
                changes.append(("schedule", old, new))
                official.windows = [ScheduleWindow(**w) for w in new]
        if changes:
            policy.version = (policy.version or 0) + 1
            for name, old_value, new_value in changes:
                audit(self.s, self.actor, official.id, name, old_value, new_value, IMPORT_REASON)
            self.touched.add(spec.slug)


async def import_directory(db: Db, spec: DirectorySpec, actor: str, *, dry_run: bool = False,
                           on_change: OnChange | None = None) -> ImportResult:
    """Apply ``spec`` in one transaction; with ``dry_run`` validate against the DB and roll back.

    ``on_change(official_id)`` is awaited after the commit for every created or changed official.
    """
    actor = clean_actor(actor)
    async with db() as session:
        try:
            result = await _Importer(session, spec, actor).run()
            if dry_run:
                await session.rollback()
            else:
                await session.commit()
        except IntegrityError as exc:
            await session.rollback()
            raise Conflict(f"the directory conflicts with the database: {exc.orig}") from None
        except BaseException:
            await session.rollback()
            raise
    result.dry_run = dry_run
    if on_change is not None and not dry_run:
        for official_id in result.changed_officials:
            await on_change(official_id)
    return result


async def import_text(db: Db, text: str, fmt: str, actor: str, *, dry_run: bool = False,
                      on_change: OnChange | None = None) -> ImportResult:
    return await import_directory(db, parse_directory(text, fmt), actor, dry_run=dry_run,
                                  on_change=on_change)


async def import_file(db: Db, path: str | Path, actor: str, *, dry_run: bool = False,
                      on_change: OnChange | None = None) -> ImportResult:
    return await import_directory(db, load_file(path), actor, dry_run=dry_run, on_change=on_change)
