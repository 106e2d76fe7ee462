"""What a caller waiting in a pool hears (issue 15): their place in the queue and the expected
wait, in the caller's language, every ``every`` seconds. The ``[announce]`` section holds the
defaults (beside ``ivr.core.config``, which lists it in its ``SECTIONS``); a pool of the
directory may set its own (docs/directory.md, ``announce:``). Rendered into queues.conf and
say.conf by ``ivr.asterisk.render``; the prompts are synthesised by ``ivr.followup.prompts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

EVERY_RANGE: Final = (15, 600)  # seconds between two announcements to one caller
NUMBER_MAX: Final = 99  # numbers spoken as words (ivr-num-1 … ivr-num-99); above: ivr-num-more
# the prompt files app_queue plays (queues.conf `queue-*` sounds); the numbers between them
# come from say.conf (ivr-num-<n>)
QUEUE_SOUNDS: Final = {
    "queue-youarenext": "ivr-queue-next",        # position 1
    "queue-thereare": "ivr-queue-position",      # 您现在排在第 … (position 2 and later)
    "queue-callswaiting": "ivr-queue-calls",     # … 位
    "queue-holdtime": "ivr-queue-holdtime",      # 预计等待 …
    "queue-minute": "ivr-queue-minutes",         # … 分钟
    "queue-minutes": "ivr-queue-minutes",
}
POOL_KEYS: Final = ("position", "holdtime", "every")  # a pool's `announce:` keys


def _doc(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, slots=True)
class AnnounceConfig:
    """Defaults of every pool; a pool's own ``announce:`` in the directory overrides them."""
    position: bool = _doc(True, "a caller waiting in a pool hears their place in the queue "
                          "(您现在排在第N位; 您是下一位)")
    holdtime: bool = _doc(True, "and the expected wait in minutes (预计等待N分钟), once the "
                          "pool has answered calls to estimate it from")
    every: int = _doc(45, "seconds between two announcements to one caller (15-600); the first "
                      "is played when the caller starts waiting")

    def __post_init__(self) -> None:
        check_every(self.every, "[announce] every")


def check_every(value: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) \
            or not EVERY_RANGE[0] <= value <= EVERY_RANGE[1]:
        raise ValueError(f"{where}: whole seconds {EVERY_RANGE[0]}-{EVERY_RANGE[1]}, "
                         f"not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class PoolAnnounce:
    """One pool's announcements, resolved: its own settings, else the ``[announce]`` defaults."""
    position: bool = True
    holdtime: bool = True
    every: int = 45

    @property
    def enabled(self) -> bool:
        return self.position or self.holdtime

    @classmethod
    def resolve(cls, defaults: AnnounceConfig, position: bool | None = None,
                holdtime: bool | None = None, every: int | None = None) -> PoolAnnounce:
        return cls(defaults.position if position is None else position,
                   defaults.holdtime if holdtime is None else holdtime,
                   defaults.every if every is None else every)
