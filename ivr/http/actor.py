"""Who makes a change, for the audit log and case history."""

from __future__ import annotations

from aiohttp import web

from ivr.core.constants import SYSTEM
from ivr.http.routes import identity_of


def actor_of(request: web.Request, claimed: str | None) -> str:
    """A signed-in account or an issued token is recorded as itself, whatever the request
    claims; only the deployment token (the CLI, automation) may name the actor: ``claimed``
    (the body's ``actor``), else the ``actor`` query parameter or the ``X-IVR-Actor`` header,
    else ``api``."""
    who = identity_of(request)
    if who is not None and who.role != SYSTEM:
        return who.actor
    return (claimed or request.query.get("actor") or request.headers.get("X-IVR-Actor")
            or "api")
