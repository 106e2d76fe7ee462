"""The speech feature's API and page: which languages may be chosen (and why not) and which
models are installed. Read-only: models are installed with ``ivr models`` on the server itself."""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import BaseModel

from ivr.core.constants import API_PREFIX
from ivr.http import ROUTES, Routes
from ivr.http.pages import MESSAGES, NAV, render
from ivr.http.schemas import Items
from ivr.speech import languages, models

routes = Routes("speech")
STAFF = ["admin", "supervisor", "operator", "official"]
TEXTS: dict[str, tuple[str, str]] = {
    "speech.title": ("语言与语音模型", "Languages and speech models"),
    "speech.intro": ("号码或领导可选用的语言：须有提示音并已安装语音模型；只在目录中（未安装）的语言可选，"
                     "但留言无法转写，需人工听录音。",
                     "A number or an official may use a language with prompts and an installed "
                     "speech model; one only catalogued (not installed) may be chosen, but its "
                     "messages cannot be transcribed and must be listened to."),
    "speech.language": ("语言", "Language"), "speech.prompts": ("提示音", "Prompts"),
    "speech.model": ("语音模型", "Speech model"), "speech.selectable": ("可选", "Selectable"),
    "speech.note": ("说明", "Note"), "speech.no_model": ("未安装", "not installed"),
    "speech.yes": ("是", "yes"), "speech.no": ("否", "no"),
    "speech.installed": ("已安装的模型", "Installed models"), "speech.none": ("无", "none"),
    "speech.lang.zh": ("普通话", "Mandarin"), "speech.lang.en": ("英语", "English"),
    "speech.lang.ko": ("韩语", "Korean"),
    "speech.note.no_prompts": ("没有该语言的提示音：来电者将听不到任何提示，不可选用",
                               "No prompts in this language: callers would hear nothing"),
    "speech.note.catalogued": ("未安装语音模型：留言照常保存，并标记为需人工听录音，直到安装模型。可安装：",
                               "No speech model installed: messages are kept and marked for "
                               "listening until one is. Install:"),
    "speech.note.none": ("未安装语音模型，模型目录中也没有该语言的模型",
                         "No speech model installed, and none is catalogued"),
    "speech.from": ("来源", "source"),
    "speech.howto_head": ("在服务器上安装模型（均校验文件摘要）：", "Install a model on the server "
                                                            "(both verify the SHA-256):"),
    "speech.howto_offline": ("离线安装", "offline"), "speech.howto_verify": ("复核", "recheck"),
}


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


@routes.get("/admin/languages", roles=["admin", "supervisor"])
async def languages_page(request: web.Request) -> web.Response:
    """Languages (prompts, model, selectable, why not) and the installed speech models."""
    infos = await asyncio.to_thread(languages.describe)
    have = await asyncio.to_thread(models.installed)
    return render(request, "speech/languages.html", {"languages": infos, "models": have},
                  title="speech.title")


def setup(app: web.Application) -> None:
    app[MESSAGES].add(TEXTS)
    app[NAV].add(["admin", "supervisor"], "/admin/languages", "speech.title")
    app[ROUTES].add(app, routes)
