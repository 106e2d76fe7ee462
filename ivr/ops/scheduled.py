"""Scheduled backups in the controller (``[backup] dir``): one archive a day at ``[backup] at``
(city time) written by :func:`ivr.ops.backup.backup` in a thread (the event loop and FastAGI
never wait for it), then the folder's retention (``keep_daily``, ``keep_monthly``). A failure
is logged and kept: the alert ``backup_failed`` stays raised until a backup succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ivr.core.config import Config
from ivr.db.session import Db
from ivr.db.settings import current_timezone
from ivr.ops.backup import backup
from ivr.ops.retention import prune_dir

log = logging.getLogger(__name__)


def next_run(at: str, now: datetime) -> datetime:
    """The next ``HH:MM`` after ``now`` (an aware time in the city's zone)."""
    hour, minute = (int(x) for x in at.split(":"))
    today = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return today if today > now else today + timedelta(days=1)


class BackupSchedule:
    def __init__(self, config: Config, db: Db) -> None:
        self.config, self.db = config, db
        self.last_path: Path | None = None
        self.last_error: str | None = None
        self.runs = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.config.backup.dir)

    async def run_once(self) -> Path | None:
        """One backup now, then the retention; None when it failed (``last_error`` says why)."""
        b = self.config.backup
        self.runs += 1
        try:
            path, _manifest = await asyncio.to_thread(backup, self.config, Path(b.dir))
            removed = await asyncio.to_thread(prune_dir, Path(b.dir), b.keep_daily, b.keep_monthly)
        except Exception as exc:  # noqa: BLE001 - kept for the alert; tried again tomorrow
            self.last_error = f"{type(exc).__name__}: {exc}"[:500]
            log.exception("scheduled backup into %s failed", b.dir)
            return None
        self.last_path, self.last_error = path, None
        log.info("scheduled backup written: %s (%d old archives removed)", path, len(removed))
        return path

    def start(self) -> None:
        if self.enabled:
            self._task = asyncio.create_task(self._run(), name="scheduled-backup")

    async def _run(self) -> None:
        while True:
            try:
                tz = ZoneInfo(await current_timezone(self.db))
            except Exception:  # noqa: BLE001 - the database down: the configured default zone
                tz = ZoneInfo(self.config.database.timezone)
            now = datetime.now(tz)
            await asyncio.sleep((next_run(self.config.backup.at, now) - now).total_seconds())
            await self.run_once()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
