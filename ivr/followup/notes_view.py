"""A case's history as a person reads it: the notes and values the system writes in English
(``contact deadline 2026-11-27T12:27+00:00 passed``, ``attempt 2/3: NOANSWER``) read back into
the catalogue's words with their figures, times in the city's timezone. A person's words (a
reason, a transcript correction) are shown as they are; a machine note no pattern knows is left
to the API (never shown as English on a page)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime

Text = Callable[[str], str]
At = Callable[[datetime | None], str]

TEXTS: dict[str, tuple[str, str]] = {
    "ev.assigned": ("分派", "assigned"),
    "ev.deadline_near": ("即将到期", "deadline near"),
    "ev.overdue": ("已逾期", "overdue"),
    "ev.reminded": ("已提醒", "reminded"),
    "ev.transcript_corrected": ("更正转写", "transcript corrected"),
    "ev.triaged": ("分类", "triaged"),
    "note.deadline.contact": ("联系期限", "contact deadline"),
    "note.deadline.resolve": ("办结期限", "resolve deadline"),
    "note.deadline.escalated": ("升级后期限", "escalation deadline"),
    "note.passed": ("{0} {1} 已过", "{0} {1} passed"),
    "note.due": ("{0} {1}", "{0} {1}"),
    "note.level": ("第 {0} 级；第二期限 {1}", "level {0}; second deadline {1}"),
    "note.reminded": ("已提醒领导：工单升级至 {0}", "the official is reminded: escalated to {0}"),
    "note.auto_open": ("自动回拨：最多 {0} 次，第 1 次 {1}", "automatic callback: at most {0} "
                                                       "attempts, the first at {1}"),
    "note.attempt": ("第 {0}/{1} 次：{2}", "attempt {0}/{1}: {2}"),
    "note.attempt_short": ("第 {0}/{1} 次：接通 {2} 秒，不足 {3} 秒，不算联系上",
                           "attempt {0}/{1}: on the line {2} s, under {3} s: not counted"),
    "note.on_line": ("市民在线 {0} 秒", "the citizen was on the line {0} s"),
    "note.reached_auto": ("自动回拨已联系上", "reached by the automatic callback"),
    "note.all_failed": ("{0} 次均未接通，工单仍由负责人处理", "{0} attempts failed; the case stays "
                                                      "with its owner"),
    "note.next": ("第 {0} 次 {1}", "attempt {0} at {1}"),
    # the phone rung first is an id: the attempts list shows it as code, the note leaves it out
    "note.calling": ("回拨 {0}，显示号码 {2}", "calling {0}, caller ID {2}"),
    "note.cb_answered": ("市民已接听", "the citizen answered"),
    "note.cb_unanswered": ("回拨未接通", "callback not answered"),
    "note.phone_unanswered": ("本人电话未接听（挂断原因 {1}）",
                              "own phone did not answer (hangup cause {1})"),
    "note.calendar": ("工作日历已更改", "working calendar changed"),
    "note.by_operator": ("话务员分类", "by the operator"),
    "note.corrected.kept": ("按更正后的转写；期限不变", "on the corrected transcript; deadline kept"),
    "note.corrected.forward": ("按更正后的转写；期限提前", "on the corrected transcript; deadline "
                                                       "brought forward"),
    "note.disposition": ("人工处理结果：{0}", "staff disposition: {0}"),
    "note.attempt_n": ("第 {0} 次", "attempt {0}"),
    "note.supervisors": ("督查员", "supervisors"),
    "cb.result.REACHED": ("已联系上", "reached"),
    "cb.result.SHORT": ("接通过短", "too short"),
}
_ISO = r"(\d{4}-\d{2}-\d{2}T[\d:.]+(?:[+-]\d{2}:\d{2}|Z)?)"
# (pattern, message key, how each group is read: "t" a time, "d" a deadline kind, "r" a result,
# "o" an official's slug, "" as it is)
PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(p), key, kinds) for p, key, kinds in (
        (rf"(contact|resolve|escalated) deadline {_ISO} passed", "note.passed", "dt"),
        (rf"(contact|resolve|escalated) deadline {_ISO}", "note.due", "dt"),
        (rf"level (\d+); second deadline {_ISO}", "note.level", "-t"),
        (r"the official is reminded: case escalated to (\S+)", "note.reminded", "o"),
        (rf"automatic callback: (\d+) attempts at most, first \S+, attempt 1 due {_ISO}",
         "note.auto_open", "-t"),
        (r"attempt (\d+)/(\d+): SHORT \(answered, on the line (\d+) s < ([\d.]+) s: not counted "
         r"as reached\)", "note.attempt_short", "----"),
        (r"attempt (\d+)/(\d+): (\w+)", "note.attempt", "--r"),
        (r"the citizen was on the line (\d+) s", "note.on_line", "-"),
        (r"reached by the automatic callback", "note.reached_auto", ""),
        (r"(\d+) attempts failed; the case stays with its owner", "note.all_failed", "-"),
        (rf"attempt (\d+) due {_ISO}", "note.next", "-t"),
        (r"calling (\S+) via (\S+), caller ID (\S+)", "note.calling", "---"),
        (r"citizen answered the callback via (\S+)", "note.cb_answered", "-"),
        (r"callback via (\S+) not answered", "note.cb_unanswered", "-"),
        (r"(\S+) did not answer \(hangup cause ([^)]*)\)", "note.phone_unanswered", "--"),
        (r"working calendar changed", "note.calendar", ""),
        (r"by the operator", "note.by_operator", ""),
        (r"on the corrected transcript; deadline kept", "note.corrected.kept", ""),
        (r"on the corrected transcript; deadline brought forward", "note.corrected.forward", ""),
        (r"staff disposition: (\S+)", "note.disposition", "r"),
    ))
_ATTEMPT = re.compile(r"attempt (\d+)")
_MACHINE = re.compile(r"^[\x20-\x7e]+$")  # ASCII only: written by the system, not by a person


def _arg(kind: str, raw: str, t: Text, at: At, names: Mapping[str, str]) -> str:
    if kind == "t":
        try:
            return at(datetime.fromisoformat(raw.replace("Z", "+00:00")))
        except ValueError:
            return raw
    if kind == "d":
        return t(f"note.deadline.{raw}")
    if kind == "r":
        return t(f"cb.result.{raw}") if f"cb.result.{raw}" in TEXTS or raw in _RESULTS else raw
    if kind == "o":
        return names.get(raw) or (t("note.supervisors") if raw == "supervisors" else raw)
    return raw


_RESULTS = {"ANSWER", "NOANSWER", "BUSY", "CONGESTION", "CHANUNAVAIL", "CANCEL", "PHONE_NOANSWER",
            "AMI"}


def note_text(note: str, t: Text, at: At, names: Mapping[str, str]) -> tuple[str, bool]:
    """(text, shown): a machine note in words, a person's note as it is; an unknown machine
    note is not shown (the API keeps it)."""
    for pattern, key, kinds in PATTERNS:
        m = pattern.fullmatch(note.strip())
        if m:
            return t(key).format(*(_arg(k, g, t, at, names) for k, g in zip(kinds, m.groups(),
                                                                           strict=False))), True
    if _MACHINE.match(note) and " " in note.strip():
        return "", False  # an English sentence the system wrote that no pattern reads
    return note, True


def value_text(raw: str, t: Text, names: Mapping[str, str],
               known: Callable[[str], str | None]) -> tuple[str, bool]:
    """(text, is an id): a stored value in words (``known`` finds its label), an official's
    slug as their name, ``attempt 2`` as 第 2 次; else an id."""
    label = known(raw)
    if label is not None:
        return label, False
    if raw in names:
        return names[raw], False
    if raw == "supervisors":
        return t("note.supervisors"), False
    if m := _ATTEMPT.fullmatch(raw):
        return t("note.attempt_n").format(m.group(1)), False
    if raw in _RESULTS or f"cb.result.{raw}" in TEXTS:
        return t(f"cb.result.{raw}"), False
    return raw, bool(raw)
