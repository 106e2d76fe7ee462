"""Weekly schedule windows (ivr/core/schedule.py): intervals, week seconds, boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ivr.core.schedule import DAY, WEEK, Window, encode_intervals, mode_at, next_boundary, week_intervals, week_second

H = 3600
SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
UTC = UTC


def W(days: set[int], start: int, end: int, mode: str = "pool") -> Window:
    return Window(frozenset(days), start, end, mode)


def test_simple_window_every_weekday() -> None:
    iv = week_intervals([W({0, 1, 2, 3, 4}, 9 * H, 17 * H)])
    assert iv == tuple((d * DAY + 9 * H, d * DAY + 17 * H, "pool") for d in range(5))


def test_days_are_sorted() -> None:
    iv = week_intervals([W({4, 0, 2}, 0, H)])
    assert [s for s, _, _ in iv] == [0, 2 * DAY, 4 * DAY]


def test_window_crossing_midnight() -> None:
    # mon-fri 18:00 → 08:30 next day
    iv = week_intervals([W({0, 1, 2, 3, 4}, 18 * H, 8 * H + 1800)])
    assert iv == tuple((d * DAY + 18 * H, (d + 1) * DAY + 8 * H + 1800, "pool") for d in range(5))


def test_sunday_night_into_monday_is_split() -> None:
    iv = week_intervals([W({6}, 22 * H, 6 * H, "voicemail")])
    assert iv == ((6 * DAY + 22 * H, WEEK, "voicemail"), (0, 6 * H, "voicemail"))
    assert all(0 <= s < e <= WEEK for s, e, _ in iv)


def test_sunday_until_midnight_not_split() -> None:
    # 22:00 → 00:00 ends exactly at the week end: one interval, no empty [0, 0)
    assert week_intervals([W({6}, 22 * H, 0)]) == ((6 * DAY + 22 * H, WEEK, "pool"),)
    assert week_intervals([W({6}, 0, DAY)]) == ((6 * DAY, WEEK, "pool"),)


def test_whole_day_24_00() -> None:
    iv = week_intervals([W({5, 6}, 0, DAY)])
    assert iv == ((5 * DAY, 6 * DAY, "pool"), (6 * DAY, WEEK, "pool"))


def test_all_intervals_in_range_for_every_day_and_shape() -> None:
    shapes = [(0, DAY), (18 * H, 8 * H), (23 * H, 0), (1, 0), (12 * H, 12 * H)]
    for d in range(7):
        for s, e in shapes:
            for a, b, _ in week_intervals([W({d}, s, e)]):
                assert 0 <= a < b <= WEEK, (d, s, e, a, b)


def test_no_windows() -> None:
    assert week_intervals([]) == ()
    assert encode_intervals(()) == ""


def test_encode_intervals() -> None:
    iv = week_intervals([W({6}, 22 * H, 6 * H, "voicemail"), W({0}, 9 * H, 10 * H, "deputy")])
    assert encode_intervals(iv) == "597600-604800-voicemail|0-21600-voicemail|32400-36000-deputy"


def test_mode_at_last_window_wins() -> None:
    iv = week_intervals([W(set(range(7)), 0, DAY, "pool"), W({2}, 12 * H, 13 * H, "voicemail"),
                         W({2}, 12 * H + 1800, 14 * H, "deputy")])
    wed = 2 * DAY
    assert mode_at("direct", iv, wed + 11 * H) == "pool"
    assert mode_at("direct", iv, wed + 12 * H) == "voicemail"
    assert mode_at("direct", iv, wed + 12 * H + 1800) == "deputy"  # listed last
    assert mode_at("direct", iv, wed + 13 * H + 1) == "deputy"
    assert mode_at("direct", iv, wed + 14 * H) == "pool"
    assert mode_at("direct", (), wed) == "direct"


def test_mode_at_half_open() -> None:
    iv = ((100, 200, "pool"),)
    assert [mode_at("direct", iv, t) for t in (99, 100, 199, 200)] == ["direct", "pool", "pool", "direct"]


def test_mode_at_across_week_end() -> None:
    iv = week_intervals([W({6}, 22 * H, 6 * H, "voicemail")])
    assert mode_at("direct", iv, WEEK - 1) == "voicemail"
    assert mode_at("direct", iv, 0) == "voicemail"
    assert mode_at("direct", iv, 6 * H - 1) == "voicemail"
    assert mode_at("direct", iv, 6 * H) == "direct"
    assert mode_at("direct", iv, 6 * DAY + 22 * H - 1) == "direct"


def test_week_second_shanghai() -> None:
    # 2026-11-02 is a Monday; 00:00 in Shanghai is 16:00 UTC on Sunday
    assert week_second(datetime(2026, 11, 1, 16, 0, 0, tzinfo=UTC), SH) == 0
    assert week_second(datetime(2026, 11, 1, 15, 59, 59, tzinfo=UTC), SH) == WEEK - 1
    # Wednesday 2026-11-04 09:30:15 local
    t = datetime(2026, 11, 4, 9, 30, 15, 999999, tzinfo=SH)
    assert week_second(t, SH) == 2 * DAY + 9 * H + 30 * 60 + 15
    assert week_second(t.astimezone(UTC), SH) == 2 * DAY + 9 * H + 30 * 60 + 15


def test_week_second_dst_zone() -> None:
    # Berlin: CET (+1) in winter, CEST (+2) in summer; same UTC wall time → different local hour
    winter = datetime(2024, 1, 8, 10, 0, tzinfo=UTC)  # Monday
    summer = datetime(2024, 7, 8, 10, 0, tzinfo=UTC)  # Monday
    assert week_second(winter, BERLIN) == 11 * H
    assert week_second(summer, BERLIN) == 12 * H
    # across the spring-forward night (Sun 2024-03-31 02:00 CET → 03:00 CEST)
    before = datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC)
    after = datetime(2024, 3, 31, 1, 0, 0, tzinfo=UTC)
    assert week_second(before, BERLIN) == 6 * DAY + 1 * H + 59 * 60 + 59
    assert week_second(after, BERLIN) == 6 * DAY + 3 * H


def test_next_boundary_none_without_intervals() -> None:
    assert next_boundary((), datetime(2026, 1, 1, tzinfo=UTC), SH) is None


def test_next_boundary_start_and_end() -> None:
    iv = week_intervals([W({0, 1, 2, 3, 4}, 18 * H, 8 * H + 1800)])
    mon_noon = datetime(2026, 11, 2, 12, 0, 0, 500000, tzinfo=SH)
    nb = next_boundary(iv, mon_noon, SH)
    assert nb == datetime(2026, 11, 2, 18, 0, tzinfo=SH)
    assert nb is not None and nb.microsecond == 0
    # inside the window: the end is next
    mon_night = datetime(2026, 11, 2, 23, 0, tzinfo=SH)
    assert next_boundary(iv, mon_night, SH) == datetime(2026, 11, 3, 8, 30, tzinfo=SH)


def test_next_boundary_strictly_after_now() -> None:
    iv = week_intervals([W({0}, 18 * H, 19 * H)])
    at_start = datetime(2026, 11, 2, 18, 0, tzinfo=SH)
    assert next_boundary(iv, at_start, SH) == datetime(2026, 11, 2, 19, 0, tzinfo=SH)
    at_end = datetime(2026, 11, 2, 19, 0, tzinfo=SH)
    # only boundaries of this interval: the next is next week's start
    assert next_boundary(iv, at_end, SH) == datetime(2026, 11, 9, 18, 0, tzinfo=SH)


def test_next_boundary_wraps_week_end() -> None:
    iv = week_intervals([W({6}, 22 * H, 6 * H, "voicemail")])
    sun_23 = datetime(2026, 11, 8, 23, 0, tzinfo=SH)
    # the split at WEEK (= Monday 00:00) is an edge too, but the mode does not change there;
    # the result must still be the first edge after now, never in the past
    nb = next_boundary(iv, sun_23, SH)
    assert nb is not None and sun_23 < nb <= datetime(2026, 11, 9, 6, 0, tzinfo=SH)
    mon_1 = datetime(2026, 11, 9, 1, 0, tzinfo=SH)
    assert next_boundary(iv, mon_1, SH) == datetime(2026, 11, 9, 6, 0, tzinfo=SH)


def test_next_boundary_given_utc_now() -> None:
    iv = week_intervals([W({0}, 9 * H, 10 * H)])
    now = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # Monday 08:00 in Shanghai
    nb = next_boundary(iv, now, SH)
    assert nb is not None
    assert nb - now == timedelta(hours=1)
    assert nb.astimezone(UTC) == datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def test_next_boundary_across_dst_change() -> None:
    # Saturday noon CET; boundary Sunday 08:00 local, which is CEST after the change: 06:00 UTC
    iv = week_intervals([W({6}, 8 * H, 9 * H)])
    now = datetime(2024, 3, 30, 12, 0, tzinfo=BERLIN)
    nb = next_boundary(iv, now, BERLIN)
    assert nb is not None and nb.astimezone(UTC) == datetime(2024, 3, 31, 6, 0, tzinfo=UTC)
    # and in autumn (CEST → CET on 2024-10-27): Sunday 08:00 CET is 07:00 UTC
    now = datetime(2024, 10, 26, 12, 0, tzinfo=BERLIN)
    nb = next_boundary(iv, now, BERLIN)
    assert nb is not None and nb.astimezone(UTC) == datetime(2024, 10, 27, 7, 0, tzinfo=UTC)


def test_boundary_is_where_mode_changes() -> None:
    iv = week_intervals([W({0, 1, 2, 3, 4}, 18 * H, 8 * H + 1800, "pool"),
                         W({5, 6}, 0, DAY, "voicemail")])
    t = datetime(2026, 11, 2, 7, 0, tzinfo=SH)
    for _ in range(12):
        nb = next_boundary(iv, t, SH)
        assert nb is not None and nb > t
        before = mode_at("direct", iv, week_second(nb - timedelta(seconds=1), SH))
        at = mode_at("direct", iv, week_second(nb, SH))
        # between now and the boundary the mode is constant
        assert mode_at("direct", iv, week_second(t, SH)) == before
        t = nb
        assert isinstance(at, str)
