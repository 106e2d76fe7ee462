"""Route plans: the plain data that both the controller and the dialplan executor understand.

A plan is produced by pure functions (``ivr.core.policy``) and encoded into one string that
the dialplan's executor (context ``ivr-exec``) parses with CUT(). See docs/architecture.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ivr.core.constants import STEP_KINDS

StepKind = Literal["direct", "deputy", "pool", "voicemail", "message"]

# What a target may contain: dial strings (PJSIP/o-12&PJSIP/138…@carrier), queue names, ids.
_TARGET_RE = re.compile(r"^[A-Za-z0-9_.@/&+\-]{1,255}$")


class PlanError(ValueError):
    """A plan or its encoding is malformed."""


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    target: str
    timeout: int

    def __post_init__(self) -> None:
        if self.kind not in STEP_KINDS:
            raise PlanError(f"unknown step kind {self.kind!r}")
        if not _TARGET_RE.fullmatch(self.target):
            raise PlanError(f"step target {self.target!r} has characters a dialplan cannot carry")
        if not 0 <= self.timeout <= 3600:
            raise PlanError(f"step timeout {self.timeout} out of range")

    def encode(self) -> str:
        return f"{self.kind}^{self.target}^{self.timeout}"


@dataclass(frozen=True, slots=True)
class RoutePlan:
    official_id: int
    official_name: str
    mode: str
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise PlanError("a plan needs at least one step")
        if self.steps[-1].kind not in ("voicemail", "message"):
            raise PlanError("a plan must end with voicemail or a message: never silence")

    def encode(self) -> str:
        return encode_steps(self.steps)


def encode_steps(steps: tuple[Step, ...] | list[Step]) -> str:
    return "|".join(s.encode() for s in steps)


def decode_steps(text: str) -> tuple[Step, ...]:
    steps = []
    for part in text.split("|"):
        fields = part.split("^")
        if len(fields) != 3:
            raise PlanError(f"malformed step {part!r}")
        kind, target, timeout = fields
        if not timeout.isascii() or not timeout.isdigit():
            raise PlanError(f"malformed step {part!r}: timeout must be digits")
        try:
            steps.append(Step(kind, target, int(timeout)))  # type: ignore[arg-type]
        except ValueError as exc:
            raise PlanError(f"malformed step {part!r}: {exc}") from exc
    return tuple(steps)
