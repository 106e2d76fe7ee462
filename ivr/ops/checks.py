"""The health checks: one round of observations of the real components (the controller's AMI
and mirror, the recorder's thread and the journal, the transcription queue, the filesystems,
the pools, Asterisk's start time), as alert readings and metric gauges.

The controller is above this package: what the checks need of it comes in as a
:class:`NodeProbe` of plain callables (wired by ivr/app.py).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from ivr.calls.journal import complete_end
from ivr.core.config import Config
from ivr.core.timeutil import as_utc, utcnow
from ivr.db.followup_models import TranscriptionJob
from ivr.db.models import Operator, Pool
from ivr.db.security_models import SipBan
from ivr.db.session import Db
from ivr.db.settings import current_timezone
from ivr.ops.alerts import Reading

log = logging.getLogger(__name__)
Gauge = tuple[str, str, dict[str, str], float]


@dataclass(frozen=True)
class NodeProbe:
    ami_connected: Callable[[], bool]
    ami_logins: Callable[[], int]
    mirror_in_sync: Callable[[], bool]
    recorder: Callable[[], dict[str, Any]]
    core_status: Callable[[], Awaitable[dict[str, str]]]  # AMI CoreStatus's fields
    feed_seen: Callable[[], dict[str, int]] = dict  # the change feed's revisions applied


class Since:
    """How long a condition has held (0 while it does not)."""

    def __init__(self) -> None:
        self.start: float | None = None

    def held(self, bad: bool, now: float) -> float:
        if not bad:
            self.start = None
            return 0.0
        if self.start is None:
            self.start = now
        return now - self.start


class RecorderLag:
    """The age of the oldest journal line not yet recorded: the journal's end is noted each
    round; an end the recorder's position has passed is forgotten."""

    def __init__(self) -> None:
        self.ends: deque[tuple[float, int]] = deque()
        self.inode: int | None = None

    def lag(self, end: dict[str, int] | None, position: dict[str, int] | None, now: float) -> float:
        if end is None:
            self.ends.clear()
            return 0.0
        if end["inode"] != self.inode:
            self.ends.clear()
            self.inode = end["inode"]
        done = position["offset"] if position and position.get("inode") == end["inode"] else 0
        if not self.ends or self.ends[-1][1] < end["offset"]:
            self.ends.append((now, end["offset"]))
        while self.ends and self.ends[0][1] <= done:
            self.ends.popleft()
        return now - self.ends[0][0] if self.ends else 0.0


class RestartWatch:
    """Asterisk's start time (CoreStatus) after each AMI login: another one than before is a
    restart."""

    def __init__(self) -> None:
        self.logins = -1
        self.started: str | None = None
        self.restarts = 0
        self.last: float | None = None

    async def look(self, probe: NodeProbe, now: float) -> None:
        logins = probe.ami_logins()
        if logins == self.logins or not probe.ami_connected():
            return
        try:
            status = await probe.core_status()
        except Exception as exc:  # noqa: BLE001 - looked at again after the next login
            log.warning("CoreStatus failed: %s", exc)
            return
        self.logins = logins
        started = f"{status.get('CoreStartupDate', '')} {status.get('CoreStartupTime', '')}"
        if self.started is not None and started != self.started:
            self.restarts += 1
            self.last = now
        self.started = started


def watched_paths(config: Config) -> dict[str, Path]:
    """The filesystems whose free space matters, by what lives there (one path per device)."""
    paths = {"recordings": config.voicemail_dir, "journal": config.cel_journal.parent}
    url = make_url(config.database.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        paths = {"database": Path(url.database).expanduser().parent, **paths}
    out: dict[str, Path] = {}
    devices: set[int] = set()
    for what, path in paths.items():
        try:
            dev = os.stat(path).st_dev
        except OSError:
            continue
        if dev not in devices:
            devices.add(dev)
            out[what] = path
    return out


def in_hours(hours: str, now: datetime) -> bool:
    if not hours:
        return True
    def parse(text: str) -> time:
        hour, minute = (int(x) for x in text.split(":"))
        return time.max if hour == 24 else time(hour, minute)
    start, end = (parse(t) for t in hours.split("-"))
    t = now.time()
    return start <= t < end if start <= end else (t >= start or t < end)


class Checks:
    def __init__(self, config: Config, db: Db, probe: NodeProbe) -> None:
        self.config, self.db, self.probe = config, db, probe
        self.ami, self.mirror = Since(), Since()
        self.lag, self.restart = RecorderLag(), RestartWatch()

    async def run(self, now: float) -> tuple[list[Reading], list[Gauge], set[str]]:
        """One round: the readings, the gauges and the kinds that could be checked (a check
        that fails — the database unreachable — leaves its alerts as they were)."""
        a, p = self.config.alerts, self.probe
        readings: list[Reading] = []
        gauges: list[Gauge] = []
        kinds = {"ami_disconnected", "mirror_out_of_sync", "recorder_lag", "disk_low",
                 "journal_large", "asterisk_restarted"}
        ami = p.ami_connected()
        down = self.ami.held(not ami, now)
        readings.append(Reading("ami_disconnected", "", not ami, down,
                                f"AMI disconnected for {down:.0f} s", a.ami_down_seconds,
                                (f"{down:.0f}",)))
        gauges.append(("ivr_ami_connected", "1 while logged in to Asterisk's AMI", {}, float(ami)))
        sync = p.mirror_in_sync()
        out = self.mirror.held(not sync, now)
        readings.append(Reading("mirror_out_of_sync", "", not sync, out,
                                f"AstDB mirror out of sync for {out:.0f} s", a.mirror_seconds,
                                (f"{out:.0f}",)))
        gauges.append(("ivr_mirror_in_sync", "1 while the AstDB mirror matches the routes", {},
                       float(sync)))

        rec = p.recorder()
        end = complete_end(self.config.cel_journal)
        lag = self.lag.lag(end, rec.get("position"), now)
        failing = float(rec.get("failing_for") or 0)
        worst = max(lag, failing)
        readings.append(Reading("recorder_lag", "", worst > 0, worst,
                                f"oldest unrecorded journal line {lag:.0f} s old; failing for "
                                f"{failing:.0f} s: {rec.get('last_error') or '-'}",
                                a.recorder_lag_seconds, (f"{lag:.0f}", f"{failing:.0f}"),
                                str(rec.get("last_error") or "")))
        size = float(end["offset"]) if end else 0.0
        gauges += [("ivr_recorder_lag_seconds", "age of the oldest journal line not yet recorded",
                    {}, lag),
                   ("ivr_recorder_failures", "recorder rounds that failed since start", {},
                    float(rec.get("failures") or 0)),
                   ("ivr_journal_bytes", "size of the CEL journal", {}, size)]
        readings.append(Reading("journal_large", "", size > a.journal_bytes, size,
                                f"CEL journal {size / 2**20:.0f} MiB", 0.0,
                                (f"{size / 2**20:.0f}",)))

        for what, path in watched_paths(self.config).items():
            usage = shutil.disk_usage(path)
            ratio = usage.free / usage.total if usage.total else 1.0
            readings.append(Reading("disk_low", what, ratio * 100 < a.disk_free_percent, ratio,
                                    f"{path}: {ratio:.1%} free", 0.0, (f"{ratio:.1%}",),
                                    str(path)))
            gauges.append(("ivr_disk_free_ratio", "free space of the filesystem", {"what": what},
                           ratio))

        await self.restart.look(p, now)
        recent = self.restart.last is not None and now - self.restart.last < a.restart_hold_seconds
        readings.append(Reading("asterisk_restarted", "", recent, float(self.restart.restarts),
                                "Asterisk restarted (calls in progress then were cut)"))
        gauges.append(("ivr_asterisk_restarts", "Asterisk restarts seen since the controller "
                       "started", {}, float(self.restart.restarts)))
        try:
            readings += await self._database(gauges)
            kinds |= {"transcription_backlog", "pool_unstaffed", "sip_bans"}
        except Exception as exc:  # noqa: BLE001 - the database down: the recorder's alert says so
            log.warning("health checks could not read the database: %s", exc)
        return readings, gauges, kinds

    async def _database(self, gauges: list[Gauge]) -> list[Reading]:
        a = self.config.alerts
        readings: list[Reading] = []
        async with self.db() as s:
            waiting, oldest = (await s.execute(
                select(func.count(), func.min(TranscriptionJob.created_at))
                .where(TranscriptionJob.status.in_(("pending", "running"))))).one()
            pools = (await s.execute(
                select(Pool.name, func.count(Operator.id).filter(Operator.state == "ready"))
                .outerjoin(Operator, Operator.pool_id == Pool.id).group_by(Pool.name))).all()
            now = utcnow()
            bans = int(await s.scalar(select(func.count()).select_from(SipBan).where(
                SipBan.lifted_at.is_(None), SipBan.expires_at > now)) or 0)
        age = (utcnow() - as_utc(oldest)).total_seconds() if oldest is not None else 0.0
        readings.append(Reading("transcription_backlog", "",
                                waiting > a.transcription_queue
                                or age > a.transcription_oldest_seconds, float(waiting),
                                f"{waiting} messages waiting, the oldest {age / 60:.0f} min",
                                0.0, (str(waiting), f"{age / 60:.0f}")))
        gauges += [("ivr_transcription_waiting", "transcription jobs pending or running", {},
                    float(waiting)),
                   ("ivr_transcription_oldest_seconds", "age of the oldest waiting job", {}, age)]
        readings.append(Reading("sip_bans", "", bans >= a.sip_bans_active, float(bans),
                                f"{bans} SIP sources banned (failed logins)", 0.0, (str(bans),)))
        gauges.append(("ivr_sip_bans_active", "SIP source addresses banned now", {}, float(bans)))
        tz = ZoneInfo(await current_timezone(self.db))
        open_now = in_hours(a.pool_hours, datetime.now(tz))
        for name, ready in pools:
            readings.append(Reading("pool_unstaffed", name, open_now and ready == 0, float(ready),
                                    f"pool {name}: nobody ready", a.pool_unstaffed_seconds))
            gauges.append(("ivr_pool_ready_operators", "operators ready in the pool",
                           {"pool": name}, float(ready)))
        return readings
