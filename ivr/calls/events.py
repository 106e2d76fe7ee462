"""Asterisk CEL events as plain records, from AMI (live) or the JSON journal (replay).

Both sources must give the same record (and the same dedupe key) for the same event, so a
replay after an outage never counts an event twice. Neither source's caller fields are read
(Asterisk writes them unescaped): the caller is in ``IVR_CALL``'s extra (ivr/calls/callerid.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

WANTED = {"ANSWER", "HANGUP", "LINKEDID_END", "USER_DEFINED"}


@dataclass(frozen=True, slots=True)
class CelRecord:
    eventtype: str  # USER_DEFINED, HANGUP, LINKEDID_END
    userdeftype: str  # IVR_CALL, IVR_STEP, … for USER_DEFINED
    eventtime: float
    uniqueid: str
    linkedid: str
    channel: str = ""
    exten: str = ""
    context: str = ""
    cid_num: str = ""  # only in events stored before 0007; the caller is IVR_CALL's caller_raw=
    extra: str = ""  # the raw extra text (user events: "k=v;k=v")
    fields: Mapping[str, str] = field(default_factory=dict)  # parsed k=v or hangup JSON

    @property
    def name(self) -> str:
        return self.userdeftype or self.eventtype

    @property
    def key(self) -> str:
        # No time in the key: AMI and the journal stamp the same event a few µs apart. Each
        # event the dialplan emits is unique per channel, name and extra (steps are numbered).
        raw = f"{self.uniqueid}|{self.name}|{self.extra}"
        return hashlib.sha1(raw.encode("utf-8")).hexdigest()


def parse_extra(raw: str) -> tuple[str, dict[str, str]]:
    """CEL extra is JSON: ``{"extra": "k=v;k=v"}`` for user events, a dict for HANGUP."""
    if not raw:
        return "", {}
    try:
        data: Any = json.loads(raw)
    except ValueError:
        data = {"extra": raw}
    if isinstance(data, dict) and set(data) == {"extra"}:
        text = str(data["extra"])
        pairs = {}
        for part in text.split(";"):
            k, sep, v = part.partition("=")
            if sep:
                pairs[k.strip()] = v.strip()
        return text, pairs
    if isinstance(data, dict):
        flat = {str(k): str(v) for k, v in data.items()}
        return json.dumps(flat, sort_keys=True), flat
    return str(data), {}


def _make(eventtype: str, userdef: str, etime: str, src: Mapping[str, Any], names: tuple[str, ...]
          ) -> CelRecord | None:
    uniqueid, linkedid, channel, exten, context, extra = (str(src.get(n, "") or "") for n in names)
    if eventtype not in WANTED or not linkedid:
        return None
    if eventtype == "USER_DEFINED" and not userdef.startswith("IVR_"):
        return None
    try:
        t = float(etime)
    except ValueError:
        return None
    text, fields = parse_extra(extra)
    return CelRecord(eventtype, userdef if eventtype == "USER_DEFINED" else "", t, uniqueid,
                     linkedid, channel, exten, context, "", text, fields)


def from_journal_line(line: str) -> CelRecord | None:
    """One line of cel-custom/ivr-cel.json (see dialplans/cel_custom.conf.tmpl)."""
    try:
        d = json.loads(line)
    except ValueError:
        return None
    if not isinstance(d, dict):
        return None
    etype = str(d.get("eventtype", ""))
    userdef = str(d.get("userdeftype", ""))
    if userdef and etype == userdef:
        etype = "USER_DEFINED"
    return _make(etype, userdef, str(d.get("eventtime", "")), d,
                 ("uniqueid", "linkedid", "channame", "exten", "context", "eventextra"))


def from_ami(msg: Mapping[str, str]) -> CelRecord | None:
    """An AMI ``Event: CEL`` message (cel_manager)."""
    name = msg.get("EventName", "")
    userdef = msg.get("UserDefType", "")
    etype = name
    if name not in WANTED:  # user events are announced under their own name
        etype, userdef = "USER_DEFINED", userdef or name
    elif name == "USER_DEFINED":
        userdef = userdef or ""
    # manager.conf timestampevents=yes: µs epoch; cel_manager's own EventTime is whole seconds
    return _make(etype, userdef, msg.get("Timestamp", ""), msg,
                 ("UniqueID", "LinkedID", "Channel", "Exten", "Context", "Extra"))
