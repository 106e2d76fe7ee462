"""Labels for routing values on the pages: availability, steps, the effective mode's reasons,
and audit entries as a person reads them (field names and enum values through the catalogue,
JSON blobs as "label: value" lists)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ivr.core.constants import AVAILABILITY, MODES

EFFECTIVE_TEXTS: dict[str, tuple[str, str]] = {
    "eff.switch": ("管理员设置", "set by an admin"),
    "eff.window": ("时间表时段", "schedule window"),
    "eff.holiday": ("节假日时段", "holiday window"),
    "eff.stored": ("管理员设置的模式", "admin's switch"),
    "eff.first": ("来电先到", "calls go first to"),
    "eff.next": ("下次时间表变更", "next schedule change"),
    "eff.pool": ("话务组", "pool"),
    "eff.step.direct": ("本人电话", "the official's phones"),
    "eff.step.deputy": ("副职", "the deputy"),
    "eff.step.pool": ("话务组", "the pool"),
    "eff.step.voicemail": ("留言", "voicemail"),
    "eff.step.message": ("提示“暂时无法接听”", "the 'unavailable' message"),
    "avail.label": ("领导状态", "Availability"),
    "avail.available": ("在岗", "available"),
    "avail.meeting": ("会议中", "in a meeting"),
    "avail.dnd": ("请勿打扰", "do not disturb"),
    "avail.leave": ("请假", "on leave"),
    "audit.actor.web": ("网页", "web"),
    "audit.actor.import": ("目录导入", "import"),
    "audit.actor.phone": ("电话", "phone"),
    "audit.actor.system": ("系统", "system"),
    "audit.actor.cli": ("命令行", "command line"),
    "audit.actor.api": ("接口", "API"),
    "audit.yes": ("是", "yes"),
    "audit.reason.import": ("目录导入", "directory import"),
    "audit.no": ("否", "no"),
}
AUDIT_FIELDS: dict[str, tuple[str, str]] = {
    "audit.field.mode": ("模式", "mode"),
    "audit.field.availability": ("领导状态", "availability"),
    "audit.field.availability_note": ("状态说明", "availability note"),
    "audit.field.schedule": ("时间表", "schedule"),
    "audit.field.chain": ("转接顺序", "fallback chain"),
    "audit.field.ring_timeout": ("振铃时长（秒）", "ring timeout (s)"),
    "audit.field.deputy": ("副职", "deputy"),
    "audit.field.pool": ("话务组", "pool"),
    "audit.field.policy": ("路由设置", "routing settings"),
    "audit.field.superior": ("上级", "superior"),
    "audit.field.confirm": ("按1确认", "confirm with 1"),
    "audit.field.menu": ("语音菜单", "menu"),
    "audit.field.language": ("语言", "language"),
    "audit.field.operator": ("话务员", "operator"),
    "audit.field.name": ("名称", "name"),
    "audit.field.strategy": ("分配方式", "strategy"),
    "audit.field.max_wait": ("最长等待（秒）", "longest wait (s)"),
    # a pool's announcements to waiting callers (—: the deployment's default)
    "audit.field.announce_position": ("播报排队位置", "announce the place in the queue"),
    "audit.field.announce_holdtime": ("播报预计等待", "announce the expected wait"),
    "audit.field.announce_every": ("播报间隔（秒）", "seconds between announcements"),
    "audit.field.timezone": ("时区", "timezone"),
    "audit.field.default_chain": ("默认转接顺序", "default chain"),
    "audit.field.case": ("工单", "case"),
    "audit.field.callback_refused": ("回拨被拒", "callback refused"),
    "audit.field.callback_approval": ("回拨批准", "callback approval"),
    "audit.field.sip_ban": ("话机封禁", "SIP ban"),
    "audit.field.days": ("日期", "days"),
    "audit.field.start": ("开始", "start"),
    "audit.field.end": ("结束", "end"),
    "audit.field.endpoint": ("分机", "endpoint"),
    "audit.field.state": ("状态", "state"),
    "audit.field.self_mode": ("允许领导自行切换模式", "official may switch own mode"),
    "audit.field.self_service_mode": ("允许全部领导自行切换模式", "all officials may switch their own mode"),
    "audit.field.availability_until": ("自动恢复时间", "returns at"),
}
STRATEGIES: dict[str, tuple[str, str]] = {
    "strategy.ringall": ("同时振铃", "ring all"),
    "strategy.leastrecent": ("最久未接者优先", "least recent"),
    "strategy.fewestcalls": ("接听最少者优先", "fewest calls"),
    "strategy.random": ("随机", "random"),
    "strategy.rrmemory": ("轮流（记住位置）", "round robin with memory"),
    "strategy.rrordered": ("轮流（按顺序）", "round robin, ordered"),
    "strategy.linear": ("按顺序", "linear"),
    "strategy.wrandom": ("加权随机", "weighted random"),
}

Text = Callable[[str], str]


def _scalar(value: Any, t: Text, days: Callable[[str], str],
            names: Mapping[str, str] | None = None) -> str:
    if isinstance(value, bool):
        return t("audit.yes" if value else "audit.no")
    if value is None:
        return "—"
    text = str(value)
    if text in ("true", "false"):  # a switch, stored as JSON's words
        return t("audit.yes" if text == "true" else "audit.no")
    if text in MODES:
        return t(f"routing.mode.{text}")
    if text in AVAILABILITY:
        return t(f"avail.{text}")
    if f"strategy.{text}" in STRATEGIES:
        return t(f"strategy.{text}")
    return (names or {}).get(text, text)


def _window(w: dict[str, Any], t: Text, days: Callable[[str], str]) -> str:
    try:
        label = days(str(w.get("days", "")))
    except ValueError:
        label = str(w.get("days", ""))
    return f"{label} {w.get('start', '')}–{w.get('end', '')} {_scalar(w.get('mode'), t, days)}"


def audit_value(field: str, raw: str | None, t: Text, days: Callable[[str], str],
                names: Mapping[str, str] | None = None,
                at: Callable[[datetime], str] | None = None) -> str:
    """A stored audit value as a person reads it (``names``: slugs → officials' names; ``at``:
    a time stored as ISO 8601, e.g. ``availability_until``, in the city's time)."""
    if raw is None or raw == "":
        return "—" if raw is None else ""
    if at is not None and field.endswith("_until"):
        try:
            return at(datetime.fromisoformat(raw))
        except ValueError:
            pass
    value: Any = raw
    if raw[:1] in "[{":
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
    if field == "confirm" and isinstance(value, str) and ":" in value:
        device, _, on = value.rpartition(":")
        return f"{device}{t('p.colon')}{t('routing.confirm.' + ('on' if on == 'true' else 'off'))}"
    if isinstance(value, list):
        if all(isinstance(w, dict) and "days" in w for w in value):
            return t("p.semi").join(_window(w, t, days) for w in value) or "—"
        return " → ".join(_scalar(v, t, days, names) for v in value)
    if isinstance(value, dict):
        parts = []
        for key, v in value.items():
            label = t(f"audit.field.{key}") if f"audit.field.{key}" in AUDIT_FIELDS else key
            if isinstance(v, list) and all(isinstance(w, dict) and "days" in w for w in v):
                shown = t("p.semi").join(_window(w, t, days) for w in v) or "—"
            elif isinstance(v, list):
                shown = " → ".join(_scalar(x, t, days, names) for x in v)
            else:
                shown = _scalar(v, t, days, names)
            parts.append(f"{label}{t('p.colon')}{shown}")
        return t("p.semi").join(parts)
    return _scalar(value, t, days, names)


def actor_label(actor: str, t: Text) -> tuple[str, str]:
    """``web:wang`` → (``网页``, ``wang``): the channel through the catalogue, the id apart."""
    kind, sep, who = actor.partition(":")
    if sep and f"audit.actor.{kind}" in EFFECTIVE_TEXTS:
        return t(f"audit.actor.{kind}"), who
    if actor in ("system", "cli", "api", "import"):
        return t(f"audit.actor.{actor}"), ""
    return "", actor
