"""The directory's HTTP routes: officials (read), operator pools and operators (CRUD), and the
directory import (YAML or CSV, all or nothing)."""

from __future__ import annotations

from aiohttp import web

from ivr.core.constants import API_PREFIX, SYSTEM
from ivr.core.errors import InvalidDirectory, InvalidInput
from ivr.directory import services as directory
from ivr.directory.importer import import_text
from ivr.directory.schemas import (
    ImportQuery,
    ImportResultCommitted,
    ImportResultOut,
    OfficialOut,
    OperatorChange,
    OperatorCreated,
    OperatorIn,
    OperatorOut,
    PoolChange,
    PoolIn,
    PoolOut,
)
from ivr.http import DB, ROUTES, Routes, require_identity
from ivr.http.inputs import actor_of
from ivr.http.keys import directory_changed, on_change_of
from ivr.http.schemas import Items
from ivr.http.scopes import OFFICIAL_PATH

routes = Routes("directory")
P = API_PREFIX
ADMIN = ["admin"]
READERS = ["admin", "supervisor", "operator"]


# --- officials ------------------------------------------------------------------------------

def _sees_private(request: web.Request) -> bool:
    """Officials' mobiles are personal numbers: admins (and the deployment token) manage them,
    an official sees their own (the route's scope); operators and supervisors do not need them."""
    return require_identity(request).role in (*ADMIN, "official", SYSTEM)


@routes.get(f"{P}/officials", roles=READERS, response=Items[OfficialOut])
async def list_officials(request: web.Request) -> Items[OfficialOut]:
    """Officials with numbers, devices, policy and schedule."""
    officials = await directory.list_officials(request.config_dict[DB])
    private = _sees_private(request)
    return Items[OfficialOut](items=[OfficialOut.of(o, private=private) for o in officials])


@routes.get(f"{P}/officials/{{slug}}", roles=[*READERS, "official"], scope=OFFICIAL_PATH,
            response=OfficialOut)
async def get_official(request: web.Request) -> OfficialOut:
    """One official (slug or numeric id)."""
    return OfficialOut.of(await directory.get_official(request.config_dict[DB],
                                                       request.match_info["slug"]),
                          private=_sees_private(request))


# --- pools ----------------------------------------------------------------------------------

@routes.get(f"{P}/pools", roles=READERS, response=Items[PoolOut])
async def list_pools(request: web.Request) -> Items[PoolOut]:
    """Operator pools."""
    pools = await directory.list_pools(request.config_dict[DB])
    return Items[PoolOut](items=[PoolOut.of(p) for p in pools])


@routes.post(f"{P}/pools", roles=ADMIN, body=PoolIn, response=PoolOut, status=201,
             errors=[409])
async def post_pool(request: web.Request, body: PoolIn) -> PoolOut:
    """Create a pool (audited)."""
    pool = await directory.create_pool(request.config_dict[DB], body.name,
                                       actor_of(request, body), strategy=body.strategy,
                                       max_wait=body.max_wait, announce=body.announce)
    await directory_changed(request)
    return PoolOut.of(pool)


@routes.get(f"{P}/pools/{{name}}", roles=READERS, response=PoolOut)
async def get_pool(request: web.Request) -> PoolOut:
    """One pool."""
    return PoolOut.of(await directory.get_pool(request.config_dict[DB], request.match_info["name"]))


@routes.put(f"{P}/pools/{{name}}", roles=ADMIN, body=PoolChange, response=PoolOut)
async def put_pool(request: web.Request, body: PoolChange) -> PoolOut:
    """Change a pool (audited)."""
    pool = await directory.update_pool(request.config_dict[DB], request.match_info["name"],
                                       actor_of(request, body), strategy=body.strategy,
                                       max_wait=body.max_wait, announce=body.announce)
    await directory_changed(request)
    return PoolOut.of(pool)


@routes.delete(f"{P}/pools/{{name}}", roles=ADMIN, status=204, errors=[409])
async def delete_pool(request: web.Request) -> None:
    """Delete an unused pool (audited)."""
    await directory.delete_pool(request.config_dict[DB], request.match_info["name"],
                                actor_of(request))
    await directory_changed(request)


# --- operators ------------------------------------------------------------------------------

@routes.get(f"{P}/operators", roles=READERS, response=Items[OperatorOut])
async def list_operators(request: web.Request) -> Items[OperatorOut]:
    """Operators (never their secrets)."""
    operators = await directory.list_operators(request.config_dict[DB])
    return Items[OperatorOut](items=[OperatorOut.of(o) for o in operators])


@routes.post(f"{P}/operators", roles=ADMIN, body=OperatorIn, response=OperatorCreated,
             status=201, errors=[404, 409])
async def post_operator(request: web.Request, body: OperatorIn) -> OperatorCreated:
    """Create an operator; the response carries the generated secret once."""
    op, secret = await directory.create_operator(request.config_dict[DB], body.name, body.endpoint,
                                         body.pool, actor_of(request, body),
                                         static_contact=body.static_contact)
    await directory_changed(request)
    return OperatorCreated.of_new(op, secret)


@routes.get(f"{P}/operators/{{endpoint}}", roles=READERS, response=OperatorOut)
async def get_operator(request: web.Request) -> OperatorOut:
    """One operator."""
    return OperatorOut.of(await directory.get_operator(request.config_dict[DB],
                                                       request.match_info["endpoint"]))


@routes.put(f"{P}/operators/{{endpoint}}", roles=ADMIN, body=OperatorChange,
            response=OperatorOut)
async def put_operator(request: web.Request, body: OperatorChange) -> OperatorOut:
    """Change an operator (audited)."""
    given = body.model_fields_set
    op = await directory.update_operator(
        request.config_dict[DB], request.match_info["endpoint"], actor_of(request, body),
        name=body.name, pool=body.pool, static_contact=body.static_contact,
        clear_static_contact="static_contact" in given and body.static_contact is None)
    await directory_changed(request)
    return OperatorOut.of(op)


@routes.delete(f"{P}/operators/{{endpoint}}", roles=ADMIN, status=204)
async def delete_operator(request: web.Request) -> None:
    """Delete an operator (audited)."""
    await directory.delete_operator(request.config_dict[DB], request.match_info["endpoint"],
                                    actor_of(request))
    await directory_changed(request)


# --- import ---------------------------------------------------------------------------------

@routes.post(f"{P}/directory/import", roles=ADMIN, query=ImportQuery,
             response=ImportResultCommitted | ImportResultOut, errors=[202, 404, 409],
             raw_body={"application/yaml": {"type": "object", "description": "the directory "
                                            "document (docs/directory.md)"},
                       "text/csv": {"type": "string"}})
async def post_import(request: web.Request,
                      query: ImportQuery) -> ImportResultCommitted | ImportResultOut:
    """Import a directory (YAML, or CSV with Content-Type text/csv); all or nothing."""
    fmt = "csv" if request.content_type in ("text/csv", "application/csv") else "yaml"
    try:
        text = await request.text()
    except UnicodeDecodeError:
        raise InvalidInput("the directory must be UTF-8 text") from None
    if not text.strip():  # the document says the body is required
        raise InvalidDirectory("the directory document is empty", where="directory")
    dry_run = query.dry_run
    result = await import_text(request.config_dict[DB], text, fmt, actor_of(request),
                               dry_run=dry_run, on_change=on_change_of(request))
    if dry_run:
        return ImportResultOut.model_validate(result.as_dict())
    await directory_changed(request)
    return ImportResultCommitted.model_validate(result.as_dict(secrets=True))


def setup(app: web.Application) -> None:
    app[ROUTES].add(app, routes)
