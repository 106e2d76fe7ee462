"""The speech feature's API: which languages may be chosen (and why not) and which models are
installed. Read-only: models are installed with ``ivr models`` on the server itself."""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import BaseModel

from ivr.core.constants import API_PREFIX
from ivr.http import ROUTES, Routes
from ivr.http.schemas import Items
from ivr.speech import languages, models

routes = Routes("speech")
STAFF = ["admin", "supervisor", "operator", "official"]


class LanguageOut(BaseModel):
    code: str
    prompts: bool
    model: str | None
    catalogued: list[str]
    selectable: bool
    note: str | None

    @classmethod
    def of(cls, info: languages.LanguageInfo) -> LanguageOut:
        return cls(code=info.code, prompts=info.prompts, model=info.model,
                   catalogued=list(info.catalogued), selectable=info.selectable, note=info.note)


class ModelOut(BaseModel):
    name: str
    language: str | None
    source: str


@routes.get(f"{API_PREFIX}/languages", roles=STAFF, response=Items[LanguageOut])
async def get_languages(request: web.Request) -> Items[LanguageOut]:
    """Languages of prompts and speech models: selectable for a number or an official when
    prompts exist and a model is installed (or catalogued: then ``note`` warns its messages
    will be marked for listening); ``note`` says why one is not selectable."""
    infos = await asyncio.to_thread(languages.describe)
    return Items[LanguageOut](items=[LanguageOut.of(i) for i in infos])


@routes.get(f"{API_PREFIX}/speech-models", roles=["admin", "supervisor"],
            response=Items[ModelOut])
async def get_models(request: web.Request) -> Items[ModelOut]:
    """Installed speech models (``ivr models list --verify`` on the server checks their files)."""
    have = await asyncio.to_thread(models.installed)
    return Items[ModelOut](items=[ModelOut(name=m.name, language=m.language, source=m.source)
                                  for m in have])


def setup(app: web.Application) -> None:
    app[ROUTES].add(app, routes)
