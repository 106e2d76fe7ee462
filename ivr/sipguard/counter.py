"""Failed SIP logins per source address over a sliding window (pure: no I/O, no clock).

Asterisk reports a failed digest login as a security event (``ChallengeResponseFailed``: the
response to a challenge it sent was wrong; ``InvalidPassword``). Both need the challenge's
nonce, which Asterisk binds to the requester's address, so a spoofed UDP source cannot produce
them for an address it does not receive at. Addresses in ``never`` (the carrier's, trusted
subnets) are never counted, whatever arrives from them.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FAILURE_EVENTS = ("ChallengeResponseFailed", "InvalidPassword")


def source_address(remote: str) -> str | None:
    """``IPV4/UDP/203.0.113.7/5060`` (a security event's RemoteAddress) -> ``203.0.113.7``."""
    parts = remote.split("/")
    if len(parts) < 3:
        return None
    try:
        return str(ipaddress.ip_address(parts[2]))
    except ValueError:
        return None


class FailureCounter:
    def __init__(self, limit: int, window: float, never: Iterable[Network] = ()) -> None:
        self.limit, self.window = limit, window
        self.never = tuple(never)
        self._seen: dict[str, deque[float]] = {}

    def exempt(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip.version == n.version and ip in n for n in self.never)

    def failed(self, address: str, now: float) -> int | None:
        """Count one failure; the number in the window when it reaches the limit (then the
        address starts again from zero), else None. Exempt addresses never reach it."""
        if self.exempt(address):
            return None
        seen = self._seen.setdefault(address, deque())
        seen.append(now)
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        self._forget_idle(now)
        if len(seen) < self.limit:
            return None
        del self._seen[address]
        return len(seen)

    def _forget_idle(self, now: float) -> None:
        """Bound the memory: addresses with no failure in the window are dropped."""
        if len(self._seen) > 10_000:
            self._seen = {a: d for a, d in self._seen.items() if d and d[-1] > now - self.window}
