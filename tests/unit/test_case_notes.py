"""A case's history in words: the system's English notes read back through the catalogue
(ivr/followup/notes_view.py), times in the city's zone, a person's words kept as they are."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from ivr.followup import notes_view
from ivr.followup.inbox_view import TEXTS as INBOX
from ivr.http.localtime import when

SH = ZoneInfo("Asia/Shanghai")
CATALOGUE = {**INBOX, **notes_view.TEXTS}
NAMES = {"li-qiang": "李强"}


def _t(lang: str):  # type: ignore[no-untyped-def]
    return lambda key: CATALOGUE[key][1 if lang == "en" else 0]


def _at(lang: str):  # type: ignore[no-untyped-def]
    return lambda dt: when(dt, SH, lang, zone=True)


def note(text: str, lang: str = "zh") -> tuple[str, bool]:
    return notes_view.note_text(text, _t(lang), _at(lang), NAMES)


def test_machine_notes_in_words() -> None:
    assert note("contact deadline 2026-11-27T04:27+00:00 passed") == (
        "联系期限 2026-11-27 12:27 北京时间 已过", True)
    assert note("contact deadline 2026-11-27T04:27+00:00 passed", "en") == (
        "contact deadline 2026-11-27 12:27 Beijing time passed", True)
    assert note("level 2; second deadline 2026-11-28T04:27+00:00") == (
        "第 2 级；第二期限 2026-11-28 12:27 北京时间", True)
    assert note("the official is reminded: case escalated to li-qiang")[0] == \
        "已提醒领导：工单升级至 李强"
    assert note("the official is reminded: case escalated to supervisors")[0] == \
        "已提醒领导：工单升级至 督查员"
    assert note("attempt 1/3: NOANSWER")[0] == "第 1/3 次：市民未接"
    assert note("attempt 2/3: SHORT (answered, on the line 3 s < 5 s: not counted as reached)")[0] \
        == "第 2/3 次：接通 3 秒，不足 5 秒，不算联系上"
    assert note("attempt 2 due 2026-11-27T05:00:00+00:00")[0] == "第 2 次 2026-11-27 13:00 北京时间"
    assert note("op-1 did not answer (hangup cause 19)")[0] == "本人电话未接听（挂断原因 19）"
    assert note("calling 13900000001 via op-1, caller ID 05585551001")[0] == \
        "回拨 13900000001，显示号码 05585551001"


def test_a_persons_words_stay_and_unknown_machine_notes_are_not_shown() -> None:
    assert note("市民要求下午回电") == ("市民要求下午回电", True)
    assert note("some future note nobody reads yet") == ("", False)
    assert note("") == ("", True)


def test_values_in_words() -> None:
    def known(raw: str) -> str | None:
        return {"called_back": "已回拨"}.get(raw)
    t = _t("zh")
    assert notes_view.value_text("called_back", t, NAMES, known) == ("已回拨", False)
    assert notes_view.value_text("li-qiang", t, NAMES, known) == ("李强", False)
    assert notes_view.value_text("attempt 2", t, NAMES, known) == ("第 2 次", False)
    assert notes_view.value_text("REACHED", t, NAMES, known) == ("已联系上", False)
    assert notes_view.value_text("transport/urgent", t, NAMES, known) == ("transport/urgent", True)
