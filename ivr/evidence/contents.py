"""What is sealed of each kind of row: its content (field → value), read from the row as stored.

- ``cel``: a raw CEL event, every column but ``id`` and ``folded`` (the recorder's own mark).
- ``call``: a call record with its steps (``steps``: one field, the list in order).
- ``case``: a case event; ``audit``: an audit entry.

``official_id`` of calls and audit entries is set NULL by the database itself when an official
is removed from the directory: the sealed value is kept in the entry's detail (``fk``) and a
NULL there is accepted only when that official no longer exists (``ivr.evidence.verify``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table

from ivr.db.followup_models import CaseEvent
from ivr.db.models import AuditEntry, Call, CallStep, CelEvent

CEL_FIELDS = ("key", "linkedid", "uniqueid", "eventtype", "userdeftype", "eventtime", "channel",
              "exten", "context", "cid_num", "extra", "node")
CALL_FIELDS = ("id", "linkedid", "kind", "number_dialed", "caller", "caller_raw",
               "caller_altered", "official_id", "route_source", "mode", "outcome", "answered_by",
               "answered_kind", "answered_role", "confirmed", "waited_secs", "abandoned_during",
               "started_at", "answered_at", "ended_at", "voicemail_file", "voicemail_secs", "node")
STEP_FIELDS = ("seq", "kind", "target", "result", "answered_by", "legs", "started_at",
               "ended_at")
CASE_FIELDS = ("id", "case_id", "at", "actor", "action", "old_value", "new_value", "note")
AUDIT_FIELDS = ("id", "at", "actor", "official_id", "field", "old_value", "new_value", "reason")

# kind → (table, its key column, fields, the stream it is chained in)
KINDS: dict[str, tuple[Any, str, tuple[str, ...]]] = {
    "cel": (CelEvent.__table__, "key", CEL_FIELDS),
    "call": (Call.__table__, "id", CALL_FIELDS),
    "case": (CaseEvent.__table__, "id", CASE_FIELDS),
    "audit": (AuditEntry.__table__, "id", AUDIT_FIELDS),
}
STEPS: Table = CallStep.__table__  # type: ignore[assignment]
# fields hashed with the entry's salt: the personal data that retention may blank (each belongs
# to one data kind, so a row's salt is cleared once they are all blank)
SALTED = {"cel": ("cid_num", "extra"), "call": ("caller", "caller_raw"), "case": ("note",),
          "audit": ()}
# fields the database may set NULL itself (ON DELETE SET NULL): the sealed value is in detail
FK_FIELDS = {"call": ("official_id",), "audit": ("official_id",)}


def content_of(kind: str, row: Mapping[Any, Any],
               steps: list[Mapping[Any, Any]] | None = None) -> dict[str, Any]:
    """The sealed content of one row (a Core row's ``_mapping`` or a dict of its columns)."""
    content = {name: row[name] for name in KINDS[kind][2]}
    if kind == "call":
        ordered = sorted(steps or [], key=lambda s: int(s["seq"]))
        content["steps"] = [{name: s[name] for name in STEP_FIELDS} for s in ordered]
    return content


def ref_of(kind: str, row: Mapping[Any, Any]) -> str:
    return str(row[KINDS[kind][1]])


def fk_of(kind: str, row: Mapping[Any, Any]) -> dict[str, Any]:
    return {name: row[name] for name in FK_FIELDS.get(kind, ()) if row[name] is not None}
