"""Prompt uploads (greetings, menu, messages): read with a size limit, validated and converted
to what Asterisk plays (8 kHz mono 16-bit) off the event loop, written atomically."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from aiohttp import web

from ivr.core.errors import InvalidAudio
from ivr.followup.prompts import validate_upload
from ivr.speech.audio import AudioError

UPLOAD_LIMIT = 20 * 1024 * 1024


async def read_limited(request: web.Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > UPLOAD_LIMIT:
            raise InvalidAudio(f"upload larger than {UPLOAD_LIMIT} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def store_prompt(request: web.Request, paths: Iterable[Path], what: str) -> bytes:
    """The request's WAV body, validated and converted, written to each path; returns it.
    An unusable upload raises InvalidAudio (``what``: how the message names it) and writes
    nothing."""
    data = await read_limited(request)
    try:
        wav = await asyncio.to_thread(validate_upload, data)
    except AudioError as exc:
        raise InvalidAudio(f"{what}: {exc}") from None
    for path in paths:
        await asyncio.to_thread(write_atomic, path, wav)
    return wav
