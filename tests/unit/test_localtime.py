"""Times as pages show them: the city's zone, named; relative spans; never ISO or UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ivr.http.localtime import due, relative, when, zone_label

T = datetime(2026, 11, 27, 12, 27, tzinfo=UTC)


def test_when_is_local_with_the_zone_named() -> None:
    sh = ZoneInfo("Asia/Shanghai")
    assert when(T, sh, "zh") == "2026-11-27 20:27"
    assert when(T, sh, "zh", zone=True) == "2026-11-27 20:27 北京时间"
    assert when(T, sh, "en", zone=True) == "2026-11-27 20:27 Beijing time"
    assert when(T.replace(tzinfo=None), sh, "zh") == "2026-11-27 20:27"  # naive = UTC (SQLite)
    assert when(None, sh, "zh") == ""
    kolkata = ZoneInfo("Asia/Kolkata")
    assert zone_label(kolkata, "zh", T) == "当地时间 +05:30"
    assert zone_label(ZoneInfo("America/New_York"), "zh", T) == "当地时间 -05:00"
    assert "UTC" not in zone_label(kolkata, "zh", T)


def test_relative_and_due() -> None:
    assert relative(T + timedelta(hours=2), T, "zh") == "2小时后"
    assert relative(T - timedelta(minutes=3), T, "zh") == "3分钟前"
    assert relative(T + timedelta(days=3), T, "en") == "in 3 days"
    assert due(T + timedelta(hours=2), T, "zh") == "2小时后到期"
    assert due(T - timedelta(hours=3), T, "zh") == "已超期3小时"
    assert due(T - timedelta(hours=3), T, "en") == "overdue by 3 h"
    assert due(T + timedelta(seconds=20), T, "zh") == "1分钟后到期"
