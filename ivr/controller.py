"""The control plane: routes calls over FastAGI, mirrors policy into AstDB, follows events.

One instance per process, built by ``ivr.app.create_app`` and shared through an AppKey.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from ivr.asterisk.agi import AgiHeaders, FastAgiServer
from ivr.asterisk.ami import AmiClient, AmiDisconnected, AmiError
from ivr.asterisk.astdb import MirrorWriter
from ivr.asterisk.render import RELOADABLE, render_all, write_all
from ivr.calls.callerid import normalise
from ivr.calls.consumer import JournalConsumer
from ivr.calls.live import LiveCalls
from ivr.core.config import Config
from ivr.core.errors import ChangeNotInEffect, UnrenderableConfig
from ivr.core.outbound import dialable
from ivr.core.timeutil import utcnow
from ivr.db.feed import ChangeFeed, bump
from ivr.db.session import Db
from ivr.directory.asterisk_input import load_render_input
from ivr.pool import service as pool_service
from ivr.pool.registrations import Registrations
from ivr.routing import services as routing
from ivr.routing.store import RoutingSnapshot, load_snapshot
from ivr.selfservice import phone

log = logging.getLogger(__name__)
RESYNC_RETRY_INITIAL = 0.2  # seconds before a failed resync step is tried again, doubling
RESYNC_RETRY_MAX = 10.0
FEATURE_ANSWER_LIMIT = 5.0  # seconds a feature code's answer may take (a database write)
CEL_GRACE_S = 1.0  # a hang-up reaches the journal through CEL's queue a moment after the channel goes


async def channels_up(ami: AmiClient) -> set[str]:
    """The linkedids of the channels Asterisk has now (``CoreShowChannels``)."""
    events = await ami.action_list("CoreShowChannels", timeout=10)
    return {m["Linkedid"] for m in events if m.get("Linkedid")}


class Controller:
    def __init__(self, config: Config, db: Db) -> None:
        self.config, self.db = config, db
        self.snapshot = RoutingSnapshot(config.database.timezone)
        self.ami = AmiClient(config.ami.host, config.ami.port, config.ami.user, config.ami.secret,
                             backoff_initial=config.ami.backoff_initial,
                             backoff_max=config.ami.backoff_max, on_login=self.on_ami_login)
        self.mirror = MirrorWriter(self.ami)
        self.calls = LiveCalls()  # live views from AMI; records from the journal:
        self.recorder = JournalConsumer(config, self.calls.on_recorded)
        self.agi = FastAgiServer({"route": self.route, "qcb": self.qcb, "feature": self.feature},
                                 answer_timeout=config.agi.answer_timeout,
                                 limits={"feature": FEATURE_ANSWER_LIMIT})
        self.ami.subscribe("CEL", self.calls.on_ami_cel)
        # phones' registration (contact events); operators paused while their phone is not
        self.registrations = Registrations(db, config.node.name, self.ami)
        self.registrations.attach(self.ami)
        self.resyncs = 0
        self.resync_failures: dict[str, int] = {}  # step -> failures since start (/healthz)
        self.resync_pending: set[str] = set()  # resync steps not done since the last login
        self._reload_lock = asyncio.Lock()
        self._directory_lock = asyncio.Lock()
        self._reload_pending: set[str] = set()  # modules whose files changed while AMI was down
        self._schedule_wake = asyncio.Event()
        self._expiry_wake = asyncio.Event()
        # changes committed through other controllers on the same database (ivr/db/feed.py)
        self.feed = ChangeFeed(db, self.apply_feed, interval=config.node.feed_interval)

    # -- routing ----------------------------------------------------------------------------
    async def route(self, headers: AgiHeaders) -> Mapping[str, str]:
        """FastAGI ``route`` (only with ``[agi] route_live``; calls route from the AstDB mirror
        otherwise): the plan for the dialed number, from the in-memory snapshot."""
        found = self.snapshot.route(headers.get("agi_arg_1", ""), utcnow())
        if found is None:
            return {"IVR_INFO": "unknown"}
        r, plan = found
        menu, lang = self.snapshot.number_options.get(headers.get("agi_arg_1", ""), (False, None))
        lang = lang or self.snapshot.languages.get(r.official_id, self.config.routing.default_language)
        # two round trips; IVR_INFO last, so an answer cut short is never taken for a route
        return {"IVR_PLAN": plan.encode(),
                "IVR_INFO": f"route^{r.official_id}^{plan.mode}^{lang}^{int(menu)}^{r.name}"}

    async def qcb(self, headers: AgiHeaders) -> Mapping[str, str]:
        """FastAGI ``qcb``, asked once a pooled caller has waited ``queue_offer_seconds``."""
        return {"IVR_QCB": self.queued_callback_offer(headers)}

    async def feature(self, headers: AgiHeaders) -> Mapping[str, str]:
        """FastAGI ``feature``: a feature code from an official's own phone (ivr.selfservice)."""
        result = await phone.feature_code(self.db, self.config, headers.get("agi_arg_1", ""),
                                          headers.get("agi_arg_2", ""), self.on_change)
        return {"IVR_FEATURE": result}

    def queued_callback_offer(self, headers: AgiHeaders) -> str:
        """"1" when this caller may be offered a queued callback (issue 10): the offer is on
        and the callback guard would dial their number (national plan, caller ID not altered)."""
        if self.config.autocallback.queue_offer_seconds <= 0:
            return "0"
        raw = headers.get("agi_callerid", "")
        number = normalise(raw)
        ok = number == raw and dialable(number, self.config.outbound) is not None
        return "1" if ok else "0"

    async def reload(self) -> bool:
        """Rebuild the snapshot from the database and push the difference to the mirror; True
        when the mirror holds it."""
        async with self._reload_lock:
            self.snapshot = await load_snapshot(self.db, self.config)
            held = await self.mirror.apply(self.snapshot.mirror(utcnow()))
        self._schedule_wake.set()
        self._expiry_wake.set()
        return held

    async def _announce(self, kind: str) -> None:
        """Tell the other controllers (the change is committed); before our own reload, so
        the revision we mark as seen is covered by it."""
        try:
            self.feed.mark(kind, await bump(self.db, kind))
        except Exception as exc:  # the change itself is committed; the others' safety net
            log.warning("could not bump the %s revision: %s", kind, exc)

    async def on_change(self, official_id: int | None = None) -> bool:
        """A committed routing change: acknowledged only once this node's mirror holds it (calls
        route from the mirror), else ``ChangeNotInEffect`` (202: saved, not in effect yet)."""
        await self._announce("routing")
        try:
            held = await self.reload()
        except Exception as exc:
            log.warning("routing change saved but not mirrored: %s", exc)
            raise ChangeNotInEffect(f"saved, not in effect yet: the mirror update failed ({exc})",
                                    {"node": self.config.node.name}) from exc
        if not held:
            raise ChangeNotInEffect("saved, not in effect yet: this node's AstDB mirror is not in "
                                    "sync (AMI down or resyncing); it follows at the next resync",
                                    {"node": self.config.node.name})
        return True

    async def apply_feed(self, kinds: frozenset[str]) -> None:
        """Another controller changed something (ivr/db/feed.py): once per poll, however many."""
        if "directory" in kinds:
            await self.sync_asterisk_config()
        if kinds & {"routing", "directory"}:
            await self.reload()
        if kinds & {"directory", "operators"} and self.ami.logged_in.is_set():
            await pool_service.reconcile(self.db, self.ami)

    async def on_directory_change(self) -> None:
        """Phones, operators or pools changed: render PJSIP and queues, reload what changed
        (a reload leaves calls in progress alone), then resync routes and queue members."""
        await self._announce("directory")
        await self.sync_asterisk_config()
        await self.reload()
        if self.ami.logged_in.is_set():
            await pool_service.reconcile(self.db, self.ami)

    async def sync_asterisk_config(self) -> list[str]:
        async with self._directory_lock:
            inputs = await load_render_input(self.db, self.config)
            files = await asyncio.to_thread(render_all, inputs)  # reads the templates
            changed = await asyncio.to_thread(write_all, files, self.config.asterisk_etc,
                                              set(RELOADABLE))
            self._reload_pending.update(RELOADABLE[name] for name in changed)
            for module in sorted(self._reload_pending):
                try:
                    await self.ami.action("ModuleLoad", Module=module, LoadType="reload")
                except (TimeoutError, AmiDisconnected, AmiError) as exc:
                    # the file is written; the resync after the next AMI login reloads it
                    log.warning("could not reload %s yet: %s", module, exc)
                    continue
                self._reload_pending.discard(module)
                log.info("reloaded %s after a directory change", module)
            return changed

    async def on_ami_login(self, ami: AmiClient) -> None:
        """After every (re)connect: the mirror first (calls route by it while we are away), then
        the rendered config, queue members and calls Asterisk lost. Asterisk may still be
        loading its modules (app_queue) right after a restart, so a step that fails is retried
        with backoff while this AMI session lasts, on its own — one failing step never keeps the
        others from running. (Waiting for FullyBooted would need the AMI account's ``system``
        read or ``command`` write privilege, which it does not have: see manager.conf.tmpl.) A
        render error is a data problem, not a transient one: logged, counted, not retried (the
        next directory change renders again). ``resync_pending`` (in /healthz) names the steps
        not done yet. Records themselves never wait for a login: the recorder follows the
        journal all along."""
        steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("mirror", self._resync_mirror), ("config", self.sync_asterisk_config),
            ("queue members", lambda: pool_service.reconcile(self.db, ami)),
            ("registrations", lambda: self.registrations.resync(ami)),
            ("journal", lambda: self._close_lost(ami))]
        self.resync_pending = {name for name, _ in steps}
        retry: list[tuple[str, Callable[[], Awaitable[object]]]] = []
        for name, step in steps:
            if not await self._resync_step(name, step):
                retry.append((name, step))
        delay = RESYNC_RETRY_INITIAL
        while retry and ami.logged_in.is_set():
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESYNC_RETRY_MAX)
            retry = [(name, step) for name, step in retry if not await self._resync_step(name, step)]
        if not retry:
            self.resyncs += 1

    async def _resync_step(self, name: str, step: Callable[[], Awaitable[object]]) -> bool:
        """True when the step is done (or cannot be helped by retrying)."""
        try:
            await step()
        except UnrenderableConfig:
            self.resync_failures[name] = self.resync_failures.get(name, 0) + 1
            log.exception("resync after AMI login: the %s step cannot render; not retried", name)
        except Exception as exc:
            self.resync_failures[name] = self.resync_failures.get(name, 0) + 1
            log.warning("resync after AMI login: the %s step failed (%s); retrying", name, exc)
            return False
        self.resync_pending.discard(name)
        return True

    async def _close_lost(self, ami: AmiClient) -> None:
        """Calls this node recorded as in progress whose channels Asterisk no longer has (it
        restarted, killed with calls up, while we were away or not) never get their end in the
        journal: recorded ``interrupted``. In order: the journal recorded up to now; the calls
        still open; the channels Asterisk has; the journal again (a call that ended meanwhile
        is closed by its own end) — what is left open and has no channel is lost."""
        await self.recorder.caught_up()
        open_calls = await self.recorder.call(lambda r: r.open_calls())
        if not open_calls:
            return
        up = await channels_up(ami)
        await asyncio.sleep(CEL_GRACE_S)
        await self.recorder.caught_up()
        lost = open_calls - up
        if lost:
            await self.recorder.call(lambda r: r.close_interrupted(lost))

    async def _resync_mirror(self) -> None:
        async with self._reload_lock:
            self.snapshot = await load_snapshot(self.db, self.config)
            await self.mirror.full_sync(self.snapshot.mirror(utcnow()))

    async def schedule_loop(self) -> None:
        """At each schedule-window boundary, write the modes now in force into the mirror."""
        while True:
            now = utcnow()
            boundary = self.snapshot.next_boundary(now)
            wait = 300.0 if boundary is None else max(0.0, (boundary - now).total_seconds()) + 0.05
            self._schedule_wake.clear()
            try:
                await asyncio.wait_for(self._schedule_wake.wait(), min(wait, 300.0))
                continue  # the snapshot changed: recompute the next boundary
            except TimeoutError:
                pass
            if boundary is not None and utcnow() >= boundary - timedelta(milliseconds=1):
                await self.mirror.apply(self.snapshot.mirror(utcnow()))
                log.info("schedule boundary %s: effective modes updated", boundary.isoformat())

    async def expiry_loop(self) -> None:
        """At each availability's return time, write ``available`` back to the database
        (audited as ``system``; the mirror already routes by its end epoch)."""
        while True:
            due = self.snapshot.next_expiry()
            wait = 300.0 if due is None else max(0.0, (due - utcnow()).total_seconds()) + 0.05
            self._expiry_wake.clear()
            try:
                await asyncio.wait_for(self._expiry_wake.wait(), min(wait, 300.0))
                continue  # the snapshot changed: recompute the next return time
            except TimeoutError:
                pass
            try:
                back = await routing.expire_availability(self.db, utcnow(), on_change=self.on_change)
                if back:
                    log.info("availability returned to available: officials %s", back)
                else:  # another node did it: our snapshot catches up by the change feed
                    await asyncio.sleep(1.0)
            except Exception:
                log.exception("availability expiry failed; retrying")
                await asyncio.sleep(5.0)
