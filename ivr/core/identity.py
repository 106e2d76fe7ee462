"""Who is asking: the identity every request is authorised as (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.core.constants import SYSTEM


@dataclass(frozen=True)
class Identity:
    role: str                       # one of ROLES, or SYSTEM
    username: str
    user_id: int | None = None
    via: str = "session"            # session | token | deployment
    csrf: str = ""
    operator_endpoint: str | None = None
    official_id: int | None = None
    official_slug: str | None = None
    display_name: str = ""

    @property
    def actor(self) -> str:
        """The name written in audit entries and case events."""
        return "api" if self.role == SYSTEM else f"web:{self.username}"

    def owns_official(self, ref: str) -> bool:
        """``ref`` (slug or numeric id) names this identity's own official."""
        return ref in (self.official_slug, str(self.official_id))
