"""Voicemail audio: WAV reading/validation, G.711, resampling, alignment, prompt uploads."""

from __future__ import annotations

import hashlib
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ivr.core.constants import LANGUAGES
from ivr.followup.prompts import DEFAULT_PROMPTS, VOICES, synthesize, validate_upload
from ivr.speech.audio import (
    Audio,
    AudioError,
    alaw_decode,
    align,
    read_wav,
    resample,
    telephone_channel,
    to_rate,
    ulaw_decode,
    ulaw_encode,
    write_wav,
)

# SHA-256 of the whole G.711 tables, taken from CPython 3.11's audioop (lin2ulaw over every int16
# value, ulaw2lin over every code), which is deprecated and gone in 3.13: our numpy code must stay
# bit-exact with it.
ULAW_ENCODE_TABLE_SHA256 = "81d633c9e6972a18c74a58720b96cb8ca0bdd096d4060b646dd708c3b846019a"
ULAW_DECODE_TABLE_SHA256 = "3dab54339e520bb2c924826e3b72a917a2b612e9fd12fc867500f1d983a75827"


def tone(freq: float, seconds: float, rate: int, amp: float = 10000.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.round(amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def noise(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, 6000, int(seconds * rate)), -32768, 32767).astype(np.int16)


def test_ulaw_tables_match_reference() -> None:
    every = np.arange(-32768, 32768).astype(np.int16)
    assert hashlib.sha256(ulaw_encode(every).tobytes()).hexdigest() == ULAW_ENCODE_TABLE_SHA256
    codes = np.arange(256, dtype=np.uint8)
    assert hashlib.sha256(ulaw_decode(codes).tobytes()).hexdigest() == ULAW_DECODE_TABLE_SHA256


def test_ulaw_round_trip() -> None:
    codes = np.arange(256, dtype=np.uint8)
    again = ulaw_encode(ulaw_decode(codes))
    # every code survives decode→encode except negative zero (0x7f), which encodes as +0 (0xff)
    assert [int(c) for c in codes[again != codes]] == [0x7F]
    x = tone(440, 1.0, 8000)
    y = ulaw_decode(ulaw_encode(x))
    err = np.abs(x.astype(np.int32) - y)
    # logarithmic quantisation: error within half a step, about 1/32 of the magnitude
    assert np.all(err <= np.abs(x.astype(np.int32)) / 16 + 8)
    snr = 10 * np.log10(np.sum(x.astype(float) ** 2) / np.sum(err.astype(float) ** 2))
    assert snr > 35  # G.711 gives ~38 dB on a loud tone


def test_alaw_decode_known_values() -> None:
    assert int(alaw_decode(np.array([0xD5], dtype=np.uint8))[0]) == 8
    assert int(alaw_decode(np.array([0x55], dtype=np.uint8))[0]) == -8
    assert int(alaw_decode(np.array([0xAA], dtype=np.uint8))[0]) == 32256


def test_resample_keeps_a_tone_and_length() -> None:
    x = tone(440, 1.0, 8000)
    up = resample(x, 8000, 16000)
    assert len(up) == 16000
    expected = tone(440, 1.0, 16000)
    assert np.max(np.abs(up[100:-100].astype(int) - expected[100:-100])) < 20
    down = resample(tone(440, 1.0, 44100), 44100, 8000)
    assert len(down) == 8000
    assert np.max(np.abs(down[100:-100].astype(int) - x[100:-100])) < 20


def test_resample_removes_what_the_new_rate_cannot_carry() -> None:
    high = tone(6000, 1.0, 16000)          # above 4 kHz: must vanish at 8 kHz, not alias
    assert np.max(np.abs(resample(high, 16000, 8000))) < 50


def test_alignment_finds_known_offset() -> None:
    rate = 8000
    ref = Audio(noise(2.0, rate, seed=1), rate)
    lead = 1234                              # recorder started 1234 samples early
    rec = np.concatenate([np.zeros(lead, np.int16), ref.samples // 2, np.zeros(500, np.int16)])
    noisy = Audio(telephone_channel(Audio(rec.astype(np.int16), rate)).samples, rate)
    a = align(noisy, ref)
    assert a.offset == lead
    assert a.offset_seconds == pytest.approx(lead / rate)
    assert a.correlation > 0.99
    assert a.gain == pytest.approx(0.5, abs=0.01)
    assert a.snr_db > 25                     # what is left is G.711 quantisation noise


def test_alignment_negative_offset_and_unrelated_audio() -> None:
    rate = 8000
    ref = noise(2.0, rate, seed=2)
    cut = 800                                # the recording missed the first 0.1 s
    a = align(Audio(ref[cut:], rate), Audio(ref, rate))
    assert a.offset == -cut and a.correlation > 0.999
    other = align(Audio(noise(2.0, rate, seed=3), rate), Audio(ref, rate))
    assert other.correlation < 0.1


def test_alignment_across_rates() -> None:
    ref = Audio(noise(1.5, 16000, seed=4), 16000)
    narrow = to_rate(Audio(np.concatenate([np.zeros(1600, np.int16), ref.samples]), 16000), 8000)
    a = align(narrow, ref)
    assert a.offset == 800 and a.correlation > 0.99


def test_read_wav_formats(tmp_path: Path) -> None:
    x = tone(300, 0.5, 8000)
    assert np.array_equal(read_wav(write_wav(Audio(x, 8000))).samples, x)
    stereo = np.stack([x, x], axis=1).astype("<i2").tobytes()
    wav = _wav(1, 2, 8000, 16, stereo)
    assert np.array_equal(read_wav(wav).samples, x)
    mu = _wav(7, 1, 8000, 8, ulaw_encode(x).tobytes())
    assert np.array_equal(read_wav(mu).samples, ulaw_decode(ulaw_encode(x)))
    u8 = _wav(1, 1, 8000, 8, ((x.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes())
    assert np.max(np.abs(read_wav(u8).samples.astype(int) - x)) <= 256
    f32 = _wav(3, 1, 8000, 32, (x / 32767).astype("<f4").tobytes())
    assert np.max(np.abs(read_wav(f32).samples.astype(int) - x)) <= 1
    path = tmp_path / "a.wav"
    write_wav(Audio(x, 8000), path)
    assert read_wav(path).duration == pytest.approx(0.5)


def test_read_wav_recovers_an_unfinished_header() -> None:
    x = tone(300, 0.5, 8000)
    broken = bytearray(write_wav(Audio(x, 8000)))
    broken[40:44] = struct.pack("<I", 0)      # recorder killed before it wrote the data size
    assert len(read_wav(bytes(broken)).samples) == len(x)


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty file"),
    (b"this is not audio at all", "not a WAV"),
    (b"RIFF\x00\x00\x00\x00WAVEjunk", "no valid fmt"),
])
def test_read_wav_rejects_garbage(data: bytes, reason: str) -> None:
    with pytest.raises(AudioError, match=reason):
        read_wav(data)


def test_read_wav_rejects_empty_long_and_missing(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no audio"):
        read_wav(_wav(1, 1, 8000, 16, b""))
    with pytest.raises(AudioError, match="too long"):
        read_wav(write_wav(Audio(np.zeros(8000 * 5, np.int16), 8000)), max_seconds=4)
    with pytest.raises(AudioError, match="cannot read"):
        read_wav(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="sample width"):
        read_wav(_wav(1, 1, 8000, 12, b"\x00" * 100))


def test_validate_upload_converts_to_telephone_format() -> None:
    x = tone(440, 1.0, 44100)
    stereo = np.stack([x, x], axis=1).astype("<i2").tobytes()
    out = validate_upload(_wav(1, 2, 44100, 16, stereo))
    audio = read_wav(out)
    assert audio.rate == 8000 and audio.duration == pytest.approx(1.0, abs=0.01)
    assert out[22:24] == struct.pack("<H", 1) and out[34:36] == struct.pack("<H", 16)
    with pytest.raises(AudioError, match="empty"):
        validate_upload(b"")
    with pytest.raises(AudioError, match="silent"):
        validate_upload(write_wav(Audio(np.zeros(8000, np.int16), 8000)))
    with pytest.raises(AudioError, match="too long"):
        validate_upload(write_wav(Audio(tone(440, 3.0, 8000), 8000)), max_seconds=2)
    with pytest.raises(AudioError):
        validate_upload(b"RIFF garbage")


def test_synthesized_prompt_is_telephone_wav(tmp_path: Path) -> None:
    out = synthesize("留言请按1。", "zh", tmp_path / "zh" / "ivr-menu.wav")
    audio = read_wav(out)
    assert audio.rate == 8000 and 0.5 < audio.duration < 10
    assert np.max(np.abs(audio.samples)) > 10000   # normalised to -3 dBFS


def test_every_default_prompt_has_a_text_in_every_prompt_language(tmp_path: Path) -> None:
    for prompt in DEFAULT_PROMPTS:
        for lang in LANGUAGES:
            assert prompt.text(lang).strip(), (prompt.name, lang)
    # Korean is spoken by espeak-ng's Korean voice (Hangul phonemes, not letter names)
    out = synthesize(DEFAULT_PROMPTS[0].text("ko"), "ko", tmp_path / "ko" / "ivr-unavailable.wav")
    assert 2 < read_wav(out).duration < 15
    phonemes = subprocess.run(["espeak-ng", "-v", VOICES["ko"], "-x", "-q", "죄송합니다"],
                              check=True, capture_output=True, text=True).stdout
    assert "(en)" not in phonemes and phonemes.strip()


def test_mandarin_voice_speaks_mandarin_not_english_digits() -> None:
    phonemes = subprocess.run(["espeak-ng", "-v", VOICES["zh"], "-x", "-q", "对不起，请按1。"],
                              check=True, capture_output=True, text=True).stdout
    assert "(en)" not in phonemes and "f'o@" not in phonemes   # no English "four"
    assert "t'uei51" in phonemes                                # dui4


def _wav(fmt: int, channels: int, rate: int, bits: int, payload: bytes) -> bytes:
    block = channels * max(1, bits // 8)
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(payload), b"WAVE", b"fmt ", 16,
                         fmt, channels, rate, rate * block, block, bits, b"data", len(payload))
    return header + payload
