"""Times as a city's staff read them: in the city's timezone, never ISO or UTC on a page.

``when(dt, tz, lang)`` → ``2026-11-27 20:27`` (with ``zone=True``: ``2026-11-27 20:27 北京时间``
/ ``… Beijing time``); ``relative(dt, now, lang)`` → ``2小时后`` / ``3分钟前`` (``in 2 h`` /
``3 min ago``); ``due(dt, now, lang)`` → ``2小时后到期`` / ``已超期3小时`` for deadlines.
Naive datetimes are UTC (what the database gives back on SQLite).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

# zones the Mandarin UI names; any other is shown by its offset ("当地时间 +05:30")
_ZONE_NAMES: dict[str, tuple[str, str]] = {
    "Asia/Shanghai": ("北京时间", "Beijing time"),
    "Asia/Chongqing": ("北京时间", "Beijing time"),
    "Asia/Harbin": ("北京时间", "Beijing time"),
    "PRC": ("北京时间", "Beijing time"),
    "Asia/Hong_Kong": ("香港时间", "Hong Kong time"),
    "Asia/Macau": ("澳门时间", "Macau time"),
    "Asia/Taipei": ("台北时间", "Taipei time"),
    "Asia/Urumqi": ("乌鲁木齐时间", "Urumqi time"),
}


def aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def zone_label(tz: ZoneInfo, lang: str, at: datetime | None = None) -> str:
    """``北京时间`` / ``Beijing time``, else the offset at ``at`` (now): ``当地时间 +05:30``."""
    names = _ZONE_NAMES.get(str(tz.key))
    if names is not None:
        return names[1] if lang == "en" else names[0]
    off = (at or datetime.now(UTC)).astimezone(tz).utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"local time {sign}{h:02d}:{m:02d}" if lang == "en" else f"当地时间 {sign}{h:02d}:{m:02d}"


def when(dt: datetime | None, tz: ZoneInfo, lang: str, *, zone: bool = False,
         seconds: bool = False) -> str:
    """``2026-11-27 20:27`` in the city's zone ("" for None)."""
    if dt is None:
        return ""
    local = aware(dt).astimezone(tz)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{text} {zone_label(tz, lang, local)}" if zone else text


def _span(delta: timedelta, lang: str) -> str:
    secs = int(abs(delta.total_seconds()))
    if secs < 60:
        return "1 min" if lang == "en" else "1分钟"
    if secs < 3600:
        n = secs // 60
        return f"{n} min" if lang == "en" else f"{n}分钟"
    if secs < 2 * 86400:
        n = round(secs / 3600)
        return f"{n} h" if lang == "en" else f"{n}小时"
    n = round(secs / 86400)
    return f"{n} days" if lang == "en" else f"{n}天"


def relative(dt: datetime | None, now: datetime, lang: str) -> str:
    """``2小时后`` / ``3分钟前``."""
    if dt is None:
        return ""
    delta = aware(dt) - aware(now)
    span = _span(delta, lang)
    if delta.total_seconds() >= 0:
        return f"in {span}" if lang == "en" else f"{span}后"
    return f"{span} ago" if lang == "en" else f"{span}前"


def due(dt: datetime | None, now: datetime, lang: str) -> str:
    """A deadline: ``2小时后到期`` / ``已超期3小时`` (``due in 2 h`` / ``overdue by 3 h``)."""
    if dt is None:
        return ""
    delta = aware(dt) - aware(now)
    span = _span(delta, lang)
    if delta.total_seconds() >= 0:
        return f"due in {span}" if lang == "en" else f"{span}后到期"
    return f"overdue by {span}" if lang == "en" else f"已超期{span}"
