"""Which backup archives to keep: the newest of each of the last N days that have one, and the
newest of each of the last M months that have one (grandfather-father-son, as most backup tools
count). The newest archive is always kept, whatever N and M say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

PREFIX = "ivr-backup-"
SUFFIX = ".tar.gz"
_NAME = re.compile(rf"^{re.escape(PREFIX)}.+-(\d{{8}}T\d{{6}}Z){re.escape(SUFFIX)}$")


def taken_at(name: str) -> datetime | None:
    """When the archive called ``name`` was taken (None: not a backup archive's name)."""
    m = _NAME.match(name)
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def to_keep(stamps: Iterable[datetime], daily: int, monthly: int) -> set[datetime]:
    newest_first = sorted(set(stamps), reverse=True)
    keep: set[datetime] = set(newest_first[:1])
    for width, count in ((10, daily), (7, monthly)):  # "YYYY-MM-DD", "YYYY-MM"
        seen: list[str] = []
        for t in newest_first:
            period = t.isoformat()[:width]
            if period in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(period)
            keep.add(t)
    return keep


def prune_dir(dest: Path, daily: int, monthly: int) -> list[Path]:
    """Remove the archives of ``dest`` retention does not keep; the removed ones."""
    archives = {p: t for p in dest.iterdir() if (t := taken_at(p.name)) is not None}
    keep = to_keep(archives.values(), daily, monthly)
    removed = sorted(p for p, t in archives.items() if t not in keep)
    for p in removed:
        p.unlink()
    return removed
