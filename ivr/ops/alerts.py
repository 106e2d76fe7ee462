"""Alerts from observations: a condition that holds long enough raises its alert, and the alert
clears itself as soon as the condition ends. Pure: the observations come from checks.py, the
time from the caller.

An observation (:class:`Reading`) says, for one alert and one subject (a pool, a path; "" for
the node), whether the bad condition holds now, how long it must hold before the alert is
raised, a value for the metrics and a sentence for people.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# alert kinds: (Chinese, English) title and what to do, shown on the page (docs/operations.md)
KINDS: dict[str, tuple[str, str]] = {
    "ami_disconnected": ("AMI 连接中断", "AMI disconnected"),
    "mirror_out_of_sync": ("路由镜像未同步", "Routing mirror out of sync"),
    "recorder_lag": ("通话记录滞后", "Call records lagging"),
    "transcription_backlog": ("转写积压", "Transcription backlog"),
    "disk_low": ("磁盘空间不足", "Disk space low"),
    "journal_large": ("通话事件日志过大", "CEL journal large"),
    "pool_unstaffed": ("话务组无人就绪", "Pool with nobody ready"),
    "asterisk_restarted": ("电话交换机已重启", "Asterisk restarted"),
    "backup_failed": ("定时备份失败", "Scheduled backup failed"),
    "sip_bans": ("多个 SIP 来源被封禁", "Several SIP sources banned"),
}


@dataclass(frozen=True, slots=True)
class Reading:
    kind: str
    subject: str
    bad: bool
    value: float
    detail: str
    hold: float = 0.0  # seconds the condition must last before the alert is raised
    # the detail's figures for the pages' words (``alerts.detail.<kind>`` in the catalogue),
    # and a technical part (a path, an error) shown as code
    args: tuple[str, ...] = ()
    code: str = ""


@dataclass(slots=True)
class Alert:
    kind: str
    subject: str
    since: float  # when the condition began (epoch seconds)
    detail: str
    value: float
    raised_at: float | None = None  # None: the condition holds, not yet long enough
    args: tuple[str, ...] = ()  # as the reading's
    code: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.subject)


@dataclass(frozen=True, slots=True)
class Change:
    what: str  # "raised" | "cleared"
    alert: Alert
    at: float


@dataclass
class AlertBook:
    """The alerts of one node: which conditions hold, since when, which are raised."""
    alerts: dict[tuple[str, str], Alert] = field(default_factory=dict)
    readings: dict[tuple[str, str], Reading] = field(default_factory=dict)

    def update(self, readings: Iterable[Reading], now: float,
               checked: Iterable[str] | None = None) -> list[Change]:
        """Apply one round of readings; the alerts raised and cleared by it. ``checked``: the
        kinds this round looked at (default: those of the readings); an alert of a kind that
        was checked and has no bad reading any more clears."""
        readings = list(readings)
        kinds = set(checked) if checked is not None else {r.kind for r in readings}
        changes: list[Change] = []
        seen: set[tuple[str, str]] = set()
        for r in readings:
            key = (r.kind, r.subject)
            self.readings[key] = r
            if not r.bad:
                continue
            seen.add(key)
            alert = self.alerts.get(key)
            if alert is None:
                alert = self.alerts[key] = Alert(r.kind, r.subject, now, r.detail, r.value)
            alert.detail, alert.value, alert.args, alert.code = r.detail, r.value, r.args, r.code
            if alert.raised_at is None and now - alert.since >= r.hold:
                alert.raised_at = now
                changes.append(Change("raised", alert, now))
        for key in [k for k in self.alerts if k[0] in kinds and k not in seen]:
            alert = self.alerts.pop(key)
            if alert.raised_at is not None:
                changes.append(Change("cleared", alert, now))
        for key in [k for k in self.readings if k[0] in kinds and k not in
                    {(r.kind, r.subject) for r in readings}]:
            del self.readings[key]  # a subject gone (a pool removed)
        return changes

    def raised(self) -> list[Alert]:
        return sorted((a for a in self.alerts.values() if a.raised_at is not None),
                      key=lambda a: (a.kind, a.subject))


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics_text(book: AlertBook, gauges: Iterable[tuple[str, str, dict[str, str], float]],
                 node: str) -> str:
    """The Prometheus text exposition (version 0.0.4) of the gauges and the alerts:
    ``gauges`` are (name, help, labels, value); every alert kind has an ``ivr_alert`` series per
    subject it has a reading for (1 raised, 0 not)."""
    by_name: dict[str, tuple[str, list[tuple[dict[str, str], float]]]] = {}
    for name, text, labels, value in gauges:
        by_name.setdefault(name, (text, []))[1].append(({"node": node, **labels}, value))
    raised = {a.key for a in book.raised()}
    series = [({"node": node, "alert": kind, "subject": subject}, float((kind, subject) in raised))
              for kind, subject in sorted(set(book.readings) | raised)]
    by_name["ivr_alert"] = ("1 while the alert is raised (docs/operations.md)", series)
    lines: list[str] = []
    for name, (text, points) in by_name.items():
        lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge"]
        for labels, value in points:
            inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{inner}}} {value:g}" if inner else f"{name} {value:g}")
    return "\n".join(lines) + "\n"
