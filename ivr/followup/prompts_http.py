"""The prompts callers hear and the voicemail greetings, replaceable by an admin with an
uploaded WAV (issue 3, point 0).

PUT /api/v1/prompts/{lang}/{name} replaces a shared prompt; PUT /api/v1/officials/{slug}/greeting
an official's own greeting; PUT /api/v1/numbers/{number}/greeting a published number's (played
instead of the official's). Each upload is validated and converted to what Asterisk plays
(8 kHz mono 16-bit); the dialplan plays the new file from the next call on. GET lists prompts.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from aiohttp import web

from ivr.core.config import Config
from ivr.core.constants import API_PREFIX, LANGUAGES
from ivr.core.errors import InvalidInput, UnknownPrompt
from ivr.core.numbers import dial_forms
from ivr.directory import services as directory
from ivr.followup.prompts import ANNOUNCE_PROMPTS
from ivr.followup.schemas import GreetingOut, LanguageQuery, NumberGreetingOut, PromptList, PromptOut
from ivr.followup.uploads import store_prompt
from ivr.http import CONFIG, DB, Routes
from ivr.http.inputs import NUMBER_PARAM
from ivr.routing.numbers_service import get_number
from ivr.speech.audio import AudioError, read_wav

# the prompts the dialplan plays: the voicemail greeting, "nobody can take your call", the
# DTMF menu, the beep before recording, the confirmation a mobile's callee hears, the
# satisfaction survey's question and thanks, the queued callback's offer and goodbye, the test
# call's announcement; the words of a pool's announcements (their numbers, ivr-num-<n>, stay
# synthesised)
PROMPTS = ("ivr-greeting", "ivr-unavailable", "ivr-menu", "ivr-beep", "ivr-confirm", "ivr-survey",
           "ivr-survey-thanks", "ivr-queued-callback", "ivr-queued-callback-ok", "ivr-testcall",
           *(p.name for p in ANNOUNCE_PROMPTS))
WAV = {"audio/wav": {"type": "string", "format": "binary"}}
_LANG = re.compile(r"^[a-z]{2,3}$")

routes = Routes("prompts")


def _prompt_dir(config: Config) -> Path:
    return config.host_path(config.prompts_dir_inside)


def _check(lang: str, name: str) -> None:
    if lang not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}", {"language": lang})
    if name not in PROMPTS:
        raise UnknownPrompt(f"no prompt {name!r}: one of {', '.join(PROMPTS)} "
                            "(an official's greeting: PUT /officials/{slug}/greeting)")


def _describe(path: Path) -> PromptOut:
    try:
        seconds: float | None = round(read_wav(path).duration, 3)
    except AudioError:
        seconds = None
    return PromptOut(language=path.parent.name, name=path.stem, seconds=seconds)


@routes.get(f"{API_PREFIX}/prompts", roles=["admin", "supervisor"], response=PromptList)
async def list_prompts(request: web.Request) -> PromptList:
    """The prompts callers hear, per language."""
    root = _prompt_dir(request.config_dict[CONFIG])

    def scan() -> list[PromptOut]:
        return [_describe(p) for lang in LANGUAGES for p in sorted((root / lang).glob("*.wav"))]
    return PromptList(items=await asyncio.to_thread(scan))


@routes.put(f"{API_PREFIX}/prompts/{{lang}}/{{name}}", roles=["admin"], response=PromptOut,
            params={"lang": {"type": "string", "enum": list(LANGUAGES)}},
            raw_body=WAV)
async def put_prompt(request: web.Request) -> PromptOut:
    """Replace a prompt with an uploaded WAV (validated, converted to 8 kHz mono)."""
    lang, name = request.match_info["lang"], request.match_info["name"]
    _check(lang, name)
    path = _prompt_dir(request.config_dict[CONFIG]) / lang / f"{name}.wav"
    await store_prompt(request, [path], "unusable prompt")
    return await asyncio.to_thread(_describe, path)


@routes.put(f"{API_PREFIX}/officials/{{slug}}/greeting", roles=["admin"], query=LanguageQuery,
            response=GreetingOut, raw_body=WAV)
async def put_official_greeting(request: web.Request, query: LanguageQuery) -> GreetingOut:
    """Upload the official's voicemail greeting (WAV; validated, converted to 8 kHz mono)."""
    config = request.config_dict[CONFIG]
    official = await directory.get_official(request.config_dict[DB], request.match_info["slug"])
    language = query.language or official.language
    if not _LANG.match(language):
        raise InvalidInput("language must be a 2-3 letter code", {"language": language})
    name = f"ivr-greeting-{official.id}.wav"
    wav = await store_prompt(request, [_prompt_dir(config) / language / name],
                             "unusable greeting")
    seconds = (len(wav) - 44) / 16000
    return GreetingOut(official_id=official.id, language=language, prompt=f"{language}/{name}",
                       seconds=round(seconds, 3))


@routes.put(f"{API_PREFIX}/numbers/{{number}}/greeting", roles=["admin"], query=LanguageQuery,
            response=NumberGreetingOut, raw_body=WAV,
            params={"number": NUMBER_PARAM})
async def put_number_greeting(request: web.Request, query: LanguageQuery) -> NumberGreetingOut:
    """Upload this number's voicemail greeting (WAV), played instead of the official's.

    Validated and converted to 8 kHz mono, one file per form a caller may dial."""
    config = request.config_dict[CONFIG]
    row = await get_number(request.config_dict[DB], request.match_info["number"])
    language = query.language or row.language or row.official.language
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}", {"language": language})
    folder = _prompt_dir(config) / language
    # one file per form a caller may dial: the dialplan looks the greeting up by the digits dialed
    paths = [folder / f"ivr-greeting-n{digits}.wav" for digits in dial_forms(row.number)]
    wav = await store_prompt(request, paths, "unusable greeting")
    return NumberGreetingOut(number=row.number, official_id=row.official_id, menu=row.menu,
                             language=row.language, greeting_language=language,
                             seconds=round(read_wav(wav).duration, 3))
