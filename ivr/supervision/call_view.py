"""A call's steps as the supervision call page shows them: whom a step rang in words (a phone
by its endpoint id, a mobile by its number, a pool by its name, the menu's keys) and its result
through a label — Asterisk's dial statuses (``NOANSWER``) and the dialplan's results
(``RECORDED``) are never shown as they are; an unknown one is shown as an id."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ivr.core.numbers import national_form

STEP_RESULTS = ("ANSWER", "NOANSWER", "BUSY", "CONGESTION", "CHANUNAVAIL", "CANCEL", "RECORDED",
                "EMPTY", "PLAYED", "CALLBACK_QUEUED", "CONFIRMED", "UNCONFIRMED", "DECLINED",
                "CUT", "TIMEOUT", "NONE")
TEXTS: dict[str, tuple[str, str]] = {
    "sv.res.ANSWER": ("已接听", "answered"),
    "sv.res.NOANSWER": ("无人接听", "not answered"),
    "sv.res.BUSY": ("占线", "busy"),
    "sv.res.CONGESTION": ("线路忙", "network busy"),
    "sv.res.CHANUNAVAIL": ("无法接通", "unreachable"),
    "sv.res.CANCEL": ("来电者已挂断", "the caller hung up"),
    "sv.res.RECORDED": ("已留言", "message recorded"),
    "sv.res.EMPTY": ("留言为空", "empty message"),
    "sv.res.PLAYED": ("已播放提示", "message played"),
    "sv.res.CALLBACK_QUEUED": ("已登记排队回拨", "callback requested in the queue"),
    "sv.res.CONFIRMED": ("已按1确认", "confirmed with 1"),
    "sv.res.UNCONFIRMED": ("接听但未按1确认", "answered, not confirmed"),
    "sv.res.DECLINED": ("拒绝接听", "declined"),
    "sv.res.CUT": ("中断", "cut off"),
    "sv.res.TIMEOUT": ("超时", "timed out"),
    "sv.res.NONE": ("未按键", "no key pressed"),
    "sv.tgt.phone": ("电话", "phone"),
    "sv.tgt.mobile": ("手机", "mobile"),
    "sv.tgt.pool": ("话务组", "pool"),
    "sv.tgt.key": ("按{0}", "key {0}"),
    "sv.tgt.repeat": ("重听", "repeat"),
    "sv.tgt.callback": ("回拨", "callback"),
}
_MOBILE = re.compile(r"(?:PJSIP/|Local/[cp]m)(\+?[0-9]{3,20})@(?:carrier|ivr-leg)")
_LOCAL = re.compile(r"Local/[cp]s([^@]{1,80})@ivr-leg.*")
_MENU = re.compile(r"[0-9*#]-[a-z]+(?:\.[0-9*#]-[a-z]+)*")
_ACTIONS = {"voicemail": "routing.mode.voicemail", "pool": "sv.tgt.pool", "deputy": "routing.mode.deputy",
            "direct": "routing.mode.direct", "repeat": "sv.tgt.repeat", "callback": "sv.tgt.callback"}


@dataclass(frozen=True, slots=True)
class Part:
    text: str  # words in the page's language
    code: str  # an id (endpoint, pool, prompt), shown as code ("" none)


def target_parts(target: str, kind: str, t: Callable[[str], str]) -> list[Part]:
    """``PJSIP/o-zw&PJSIP/+8613900000000@carrier`` → 电话 ``o-zw``, 手机 13900000000;
    ``pool-main`` → 话务组 ``main``; the menu ``1-voicemail.0-pool`` → 按1 留言, 按0 话务组."""
    if kind == "menu" and _MENU.fullmatch(target):
        parts = []
        for item in target.split("."):
            key, _, action = item.partition("-")
            label = t(_ACTIONS[action]) if action in _ACTIONS else ""
            parts.append(Part(f"{t('sv.tgt.key').format(key)} {label}".strip(),
                              "" if label else action))
        return parts
    out = []
    for piece in filter(None, target.split("&")):
        if m := _MOBILE.fullmatch(piece):
            out.append(Part(f"{t('sv.tgt.mobile')} {national_form(m.group(1))}", ""))
        elif m := _LOCAL.fullmatch(piece):
            out.append(Part(t("sv.tgt.phone"), m.group(1)))
        elif piece.startswith("PJSIP/"):
            out.append(Part(t("sv.tgt.phone"), piece[len("PJSIP/"):]))
        elif kind == "pool" and piece.startswith("pool-"):
            out.append(Part(t("sv.tgt.pool"), piece[len("pool-"):]))
        else:
            out.append(Part("", piece))
    return out


def result_label(result: str, t: Callable[[str], str]) -> Part:
    """A step's result in words (an unknown one as an id)."""
    if not result:
        return Part("", "")
    return Part(t(f"sv.res.{result}"), "") if result in STEP_RESULTS else Part("", result)
