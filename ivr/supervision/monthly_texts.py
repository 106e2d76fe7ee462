"""The monthly report's words: every heading and label a (Mandarin, English) pair — the report
is printed bilingual, Mandarin first — and its values (outcomes, reasons, follow-ups) through
the same labels as the supervision pages, never as raw enum values."""

from __future__ import annotations

from ivr.supervision.calls_texts import TEXTS as CALL_TEXTS

REPORT_TEXTS: dict[str, tuple[str, str]] = {
    "rep.title": ("政务热线接听情况通报", "Published numbers: monthly report"),
    "rep.period": ("统计周期", "Period"),
    "rep.generated": ("生成时间", "Generated"),
    "rep.figures": ("总体情况", "Figures"),
    "rep.calls": ("来电", "Calls"),
    "rep.expected": ("应答人接听", "By the expected party"),
    "rep.other": ("非应答人接听", "By another party"),
    "rep.voicemail": ("留言", "Voicemail"),
    "rep.missed": ("未接", "Missed"),
    "rep.abandoned": ("放弃", "Abandoned"),
    "rep.interrupted": ("中断", "Interrupted"),
    "rep.median": ("接听时长中位数", "Median to answer (s)"),
    "rep.p90": ("90%接听时长", "p90 to answer (s)"),
    "rep.on_time": ("按时回访率", "Followed up on time"),
    "rep.rank": ("排名", "Rank"),
    "rep.satisfaction": ("群众满意度（回访评价）", "Satisfaction (survey ratings of the month's "
                                              "calls and their cases)"),
    "rep.ratings": ("评价数", "Ratings"),
    "rep.satisfied": ("满意", "Satisfied"),
    "rep.fairly": ("基本满意", "Fairly satisfied"),
    "rep.not_satisfied": ("不满意", "Not satisfied"),
    "rep.ranking": ("领导排名", "Ranking of officials"),
    "rep.official": ("领导", "Official"),
    "rep.department": ("部门", "Department"),
    "rep.expected_pct": ("应答人接听率", "Expected party %"),
    "rep.missed_pct": ("未接率", "Missed %"),
    "rep.abandoned_pct": ("放弃率", "Abandoned %"),
    "rep.on_time_pct": ("按时回访率", "On time %"),
    "rep.satisfied_pct": ("满意率", "Satisfied %"),
    "rep.departments": ("部门排名", "Ranking of departments"),
    "rep.exceptions": ("异常来电（未由应答人接听且未按期回访）",
                       "Exceptions: not answered by the expected party, not followed up in time"),
    "rep.time": ("时间", "Time"),
    "rep.caller": ("来电号码", "Caller"),
    "rep.outcome": ("结果", "Outcome"),
    "rep.reason": ("原因", "Reason"),
    "rep.follow_up": ("回访", "Follow-up"),
    "rep.deadline": ("回访期限", "Deadline"),
    "rep.none": ("无", "None"),
    "rep.testcalls": ("监督拨测", "Test calls (placed like a citizen's call; not in the figures "
                                 "above)"),
    "rep.number": ("号码", "Number"),
    "rep.tests": ("拨测", "Tests"),
    "rep.acknowledged": ("已接听并确认", "Acknowledged"),
    "rep.unacknowledged": ("已接听未确认", "Not acknowledged"),
    "rep.not_answered": ("无人接听", "Not answered"),
    "rep.system": ("其他（系统原因）", "Other (system)"),
    "rep.acknowledged_pct": ("确认率", "Acknowledged %"),
    "rep.no_testcalls": ("本月无拨测", "No test call this month"),
    "rep.evidence": ("证据链", "Evidence chain"),
    "rep.evidence_help": ("各证据链生成本报告时的链头（与数据库核对：",
                          "The head of every evidence chain when this report was generated "
                          "(check a database against them: "),
    "rep.no_chain": ("暂无证据链", "No chain yet"),
}
_ALL = {**CALL_TEXTS, **REPORT_TEXTS}


def label(key: str) -> tuple[str, str]:
    """The (Mandarin, English) pair of ``key``; a value without a label: itself twice."""
    pair = _ALL.get(key)
    return pair if pair is not None else (key.rsplit(".", 1)[-1],) * 2
