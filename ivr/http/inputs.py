"""Request inputs every feature reads the same way: who the actor is, JSON object bodies,
required fields, whole-number and time query parameters, and the loosely typed fields a service
validates itself (so its specific error_id comes back, e.g. ``invalid-mode``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticUndefined

from ivr.core.constants import SYSTEM
from ivr.core.errors import InvalidInput
from ivr.core.timeutil import ISO_TIME_PATTERN, parse_iso_time
from ivr.db.settings import current_timezone
from ivr.http.keys import DB
from ivr.http.routes import identity_of, read_json_object

__all__ = [
    "ACTOR_SCHEMA",
    "NUMBER_PARAM",
    "SOLID",
    "Actor",
    "QueryText",
    "QueryTime",
    "actor_of",
    "int_query",
    "local_time",
    "loose",
    "read_json_object",
    "require_field",
    "time_query",
]

# no control characters (the audit log strips them; blank: not given)
ACTOR_SCHEMA: dict[str, Any] = {"type": ["string", "null"], "maxLength": 80,
                                "pattern": r"^[^\x00-\x1f\x7f]*$",
                                "description": "who (default: api); only the deployment token may "
                                               "name the actor, anyone else is recorded as "
                                               "themselves"}


class LooseSchema:
    """A loose field's documented schema (pydantic's ``json_schema_extra``) and the error class
    a value outside it raises (``ivr.http.routes.parse_model``)."""

    def __init__(self, schema: Mapping[str, Any], error: type[InvalidInput] | None) -> None:
        self.schema, self.error = dict(schema), error

    def __call__(self, js: dict[str, Any]) -> None:
        js.update(self.schema)


def loose(schema: Mapping[str, Any], default: Any = PydanticUndefined, *,
          error: type[InvalidInput] | None = None, **kw: Any) -> Any:
    """A field passed on as sent (typed ``Any``) and documented with ``schema``. A value outside
    the schema is refused before the handler runs (``error``, else the model's ``error``, else
    InvalidInput); the service then checks what a schema cannot say (a known slug, …) and
    raises its own error."""
    return Field(default, json_schema_extra=LooseSchema(schema, error), **kw)


# a character that is not blank to Python (``str.strip``) nor to ECMA 262 (a schema's ``\S``
# differs: Python counts \x1c-\x1f and \x85 as spaces, ECMA \ufeff): for "not blank" patterns
SOLID = ("[^\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f"
         "\\u205f\\u3000\\ufeff]")

# a published number in a path: digits, a leading +, spaces, dashes, brackets (the numbering
# plan itself, ``ivr.core.numbers.normalize``, answers 400 malformed-number)
NUMBER_PARAM: dict[str, Any] = {"type": "string", "pattern": r"^\+?[0-9 ()-]{1,40}$"}

# the actor claimed in a body (honoured for the deployment token only, see ``actor_of``)
Actor = Annotated[Any, WithJsonSchema(ACTOR_SCHEMA)]


def actor_of(request: web.Request, body: Mapping[str, Any] | BaseModel | None = None) -> str:
    """Who makes the change, for the audit log. A signed-in account or an issued token is that
    account, whatever the request claims; only the deployment token (the CLI, automation) may
    name the actor (body ``actor``, query ``actor`` or header ``X-IVR-Actor``; default ``api``)."""
    who = identity_of(request)
    if who is not None and who.role != SYSTEM:
        return who.actor
    if isinstance(body, BaseModel):
        claimed = getattr(body, "actor", None)
    else:
        claimed = (body or {}).get("actor")
    actor = claimed or request.query.get("actor") or request.headers.get("X-IVR-Actor")
    if actor is not None and not isinstance(actor, str):
        raise InvalidInput("actor must be text")
    return actor if actor and actor.strip() else "api"  # blank: not given


def require_field(body: Mapping[str, Any], name: str) -> Any:
    if name not in body:
        raise InvalidInput(f"missing field {name!r}", {"field": name})
    return body[name]


def int_query(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"query parameter {name} must be a whole number", {name: raw}) from None


async def local_time(request: web.Request, value: datetime | None) -> datetime | None:
    """A time without offset is in the city's timezone (the database's setting)."""
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(await current_timezone(request.config_dict[DB])))
    return value


async def time_query(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = parse_iso_time(raw)
    except ValueError:
        raise InvalidInput(f"query parameter {name} must be an ISO 8601 time", {name: raw}) from None
    return await local_time(request, value)


def _empty_is_none(value: Any) -> Any:
    return None if value == "" else value


def _iso_time(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return parse_iso_time(value)  # ValueError: a validation error (400)
    return value


# a query parameter where an empty value means "not given"
QueryText = Annotated[str | None, BeforeValidator(_empty_is_none)]
# an ISO 8601 time in a query (empty: not given); without offset see ``local_time``
QueryTime = Annotated[datetime | None, BeforeValidator(_iso_time),
                      WithJsonSchema({"type": "string", "pattern": f"{ISO_TIME_PATTERN}|^$"})]
