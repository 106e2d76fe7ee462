"""Uploaded prompts are bounded from the WAV header before anything is decoded (issue 9): the
resampler bomb (20 MB of µ-law at 192 kHz, a prime number of samples, which took the
controller to 3 GB) is refused through the real API; accepted uploads are decoded and
resampled a block at a time with the same result as in one piece. Memory figures:
bench/bench_upload_rss.py (not a test)."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from ivr.followup.prompts import validate_upload
from ivr.speech.audio import Audio, AudioError, read_wav, resample, resample_blocks, wav_info, write_wav
from tests.unit.test_web_hardening import Env, _bearer, _config, _start

PRIME = 20_000_003


def _wav(fmt: int, channels: int, rate: int, bits: int, frames: int, fill: int = 0x55) -> bytes:
    width = max(1, bits // 8) * channels
    payload = bytes([fill]) * (frames * width)
    head = struct.pack("<HHIIHH", fmt, channels, rate, rate * width, width, bits)
    body = b"WAVEfmt " + struct.pack("<I", 16) + head + b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_header_says_what_the_data_holds() -> None:
    info = wav_info(_wav(7, 1, 192000, 8, 1000))
    assert (info.encoding, info.channels, info.rate, info.frames) == (7, 1, 192000, 1000)
    assert wav_info(_wav(1, 2, 44100, 16, 4410)).duration == pytest.approx(0.1)


@pytest.mark.parametrize(("header", "reason"), [
    ((7, 1, 192000, 8, PRIME), "192000 Hz"),        # the bomb
    ((1, 1, 96000, 16, 9600), "96000 Hz"),
    ((7, 1, 48000, 8, PRIME), "too long"),          # the same bytes at 48 kHz: 417 s
    ((1, 8, 8000, 16, 8000), "8 channels"),
    ((1, 1, 8000, 16, 8000 * 121), "too long"),
])
def test_upload_refused_from_its_header(header: tuple[int, int, int, int, int], reason: str) -> None:
    with pytest.raises(AudioError, match=reason):
        validate_upload(_wav(*header))


def test_blockwise_resampling_matches_one_piece() -> None:
    rate = 44100
    t = np.arange(rate * 20) / rate  # 20 s: several blocks
    x = (8000 * np.sin(2 * np.pi * 440 * t) + 3000 * np.sin(2 * np.pi * 1234 * t)).astype(np.int16)
    whole, blocks = resample(x, rate, 8000), resample_blocks(x, rate, 8000)
    assert len(blocks) == len(whole) == 160000
    # away from the file's two ends (where one piece wraps around), they agree closely
    diff = np.abs(whole[800:-800].astype(np.int32) - blocks[800:-800].astype(np.int32))
    assert int(diff.max()) < 200, int(diff.max())
    stereo = np.stack([x, x], axis=1).astype("<i2").tobytes()
    head = struct.pack("<HHIIHH", 1, 2, rate, rate * 4, 4, 16)
    body = b"WAVEfmt " + struct.pack("<I", 16) + head + b"data" + struct.pack("<I", len(stereo)) + stereo
    out = read_wav(validate_upload(b"RIFF" + struct.pack("<I", len(body)) + body))
    assert out.rate == 8000 and len(out.samples) == 160000
    assert np.array_equal(read_wav(write_wav(Audio(x, rate))).samples, x)  # decoding in blocks


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = await _start(_config(tmp_path))
    yield e
    await e.client.close()


async def test_the_bomb_is_refused_by_the_api(env: Env, tmp_path: Path) -> None:
    bomb = _wav(7, 1, 192000, 8, PRIME)
    assert len(bomb) < 20 * 1024 * 1024  # within the upload size limit
    for path in ("/api/v1/prompts/zh/ivr-greeting", "/api/v1/officials/zhang-wei/greeting"):
        r = await env.client.put(path, data=bomb, headers={**_bearer(), "Content-Type": "audio/wav"})
        body = await r.json()
        assert r.status == 400 and body["error_id"] == "invalid-audio", body
        assert "192000 Hz" in body["message"]
    assert not list(tmp_path.rglob("ivr-greeting*.wav"))  # nothing written
