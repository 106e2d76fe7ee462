"""Feature codes: an official sets their availability from their own phone (issue 15).

The dialplan (extensions/phones.tmpl) sends ``*6X`` dialled by an authenticated phone to the
controller's FastAGI route ``feature`` with the channel's PJSIP endpoint — the device that passed
digest authentication, never a caller ID (a citizen's caller ID is forgeable, and the carrier's
context has no feature codes at all). The endpoint must be a SIP device of an official; the
change is audited as ``phone:<endpoint>``. The answer is a prompt name's tail the dialplan plays:
the state set, ``denied`` (not an official's phone, unknown code) or ``unsynced`` (saved, but
the Asterisk mirror was not written: the official is told, the mirror resyncs at the next login).
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta

from sqlalchemy import select

from ivr.core.config import Config
from ivr.core.config_self import FEATURE_CODES
from ivr.core.timeutil import utcnow
from ivr.db.models import Device
from ivr.db.session import Db
from ivr.routing import services as routing

log = logging.getLogger(__name__)
_ENDPOINT = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
RESULTS = ("available", "meeting", "leave", "dnd", "denied", "unsynced")


async def official_of_endpoint(db: Db, endpoint: str) -> int | None:
    """The official whose SIP device ``endpoint`` is (None: nobody's, or an operator's)."""
    if not _ENDPOINT.match(endpoint):
        return None
    async with db() as session:
        found = (await session.execute(select(Device.official_id).where(
            Device.kind == "sip", Device.endpoint == endpoint))).scalar_one_or_none()
    return int(found) if found is not None else None


async def feature_code(db: Db, config: Config, endpoint: str, code: str,
                       on_change: routing.OnChange | None) -> str:
    """Apply feature code ``code`` (``60``..``63``) dialled from ``endpoint``; one of RESULTS."""
    state = FEATURE_CODES.get(code)
    official = await official_of_endpoint(db, endpoint) if state is not None else None
    if state is None or official is None:
        log.warning("feature code %r from endpoint %r refused: not an official's phone or code",
                    code[:8], endpoint[:40])
        return "denied"
    minutes = config.self_service.minutes(state)
    until = utcnow() + timedelta(minutes=minutes) if minutes else None
    report: list[str] = []
    # shielded: the FastAGI answer may time out, the change is never cut in half
    await asyncio.shield(routing.set_availability(
        db, official, state, f"phone:{endpoint}", f"电话功能码 *{code}", until=until,
        on_change=on_change, report=report))
    return "unsynced" if report else state
