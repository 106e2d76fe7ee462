"""Voicemail audio: read and validate WAV, resample, G.711, and align two recordings.

Asterisk records voicemail as 8 kHz 16-bit mono PCM WAV. We also accept other rates, 8/16/24/32-bit
PCM, 32-bit float, G.711 mu-law/A-law WAV and several channels (mixed down). The stdlib ``audioop``
is deprecated (removed in 3.13), so everything here is plain numpy.

Offsets in :func:`align` follow one convention: ``recorded[t] ~= gain * reference[t - offset]``,
i.e. a positive offset means the reference starts ``offset`` samples late in the recording.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TELEPHONE_RATE = 8000
MAX_SECONDS = 600.0          # longest message we accept (Asterisk's max record time is lower)
MIN_SECONDS = 0.05           # anything shorter is "empty"

_FMT_PCM, _FMT_FLOAT, _FMT_ALAW, _FMT_MULAW, _FMT_EXT = 1, 3, 6, 7, 0xFFFE


class AudioError(ValueError):
    """The audio is unusable: corrupt, empty, too long, or in a format we do not read."""


@dataclass(frozen=True, slots=True)
class Audio:
    """Mono 16-bit samples and their sample rate."""

    samples: np.ndarray  # int16, one dimension
    rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0

    def pcm_bytes(self) -> bytes:
        return self.samples.astype("<i2", copy=False).tobytes()


@dataclass(frozen=True, slots=True)
class Alignment:
    offset: int            # samples; recorded[t] ~ gain * reference[t - offset]
    offset_seconds: float
    correlation: float     # normalised cross-correlation over the overlap, -1..1
    snr_db: float          # reference (scaled) vs residual over the overlap
    gain: float
    overlap_seconds: float


# ---------------------------------------------------------------- reading / writing WAV

def read_wav(source: str | os.PathLike[str] | bytes, *, max_seconds: float = MAX_SECONDS,
             min_seconds: float = MIN_SECONDS) -> Audio:
    """Read a WAV file (path or bytes) into mono int16, validated.

    Raises :class:`AudioError` with the reason for a missing, corrupt, empty or too long file.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "<bytes>"
    else:
        name = str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise AudioError(f"cannot read {name}: {exc.strerror or exc}") from exc
    if not data:
        raise AudioError(f"{name}: empty file (0 bytes)")
    fmt, channels, rate, bits, payload = _parse_riff(data, name)
    audio = Audio(_decode_mono(fmt, channels, bits, payload, name), rate)
    if audio.duration < min_seconds:
        raise AudioError(f"{name}: no audio ({audio.duration:.3f} s of samples)")
    if audio.duration > max_seconds:
        raise AudioError(f"{name}: too long ({audio.duration:.1f} s > {max_seconds:.0f} s)")
    return audio


@dataclass(frozen=True, slots=True)
class WavInfo:
    """What a WAV header says, before anything is decoded."""
    encoding: int
    channels: int
    rate: int
    bits: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.rate


def wav_info(data: bytes, name: str = "<bytes>") -> WavInfo:
    """The header of a WAV (bytes): encoding, channels, rate, sample width and the number of
    whole frames its data holds. AudioError for what ``read_wav`` would refuse as corrupt."""
    fmt, channels, rate, bits, payload = _parse_riff(data, name)
    width = 1 if fmt in (_FMT_MULAW, _FMT_ALAW) else bits // 8
    if width < 1:
        raise AudioError(f"{name}: unsupported sample width {bits} bits")
    return WavInfo(fmt, channels, rate, bits, len(payload) // (width * channels))


_BLOCK = 1 << 20  # frames decoded at a time: float64 copies stay ~8 MiB per channel


def _decode_mono(fmt: int, channels: int, bits: int, payload: bytes, name: str) -> np.ndarray:
    """int16 mono samples, decoded a block of frames at a time (a whole-file float64 copy of a
    20 MB upload would be hundreds of MB; the result is the same)."""
    width = 1 if fmt in (_FMT_MULAW, _FMT_ALAW) else max(1, bits // 8)
    frame = width * channels
    step = _BLOCK * frame
    view = memoryview(payload)
    parts = []
    for start in range(0, max(len(payload), 1), step):
        samples = _decode(fmt, bits, bytes(view[start:start + step]), name)
        if channels > 1:
            usable = len(samples) - len(samples) % channels
            samples = samples[:usable].reshape(-1, channels).mean(axis=1)
        parts.append(_to_int16(samples))
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _parse_riff(data: bytes, name: str) -> tuple[int, int, int, int, bytes]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    pos, fmt_chunk, payload = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body_start = pos + 8
        if cid == b"data":
            # A recorder killed before closing leaves size 0 or a size past the end: take
            # what is there (whole frames are enforced in _decode).
            end = len(data) if size in (0, 0xFFFFFFFF) else min(body_start + size, len(data))
            payload = data[body_start:end]
            if fmt_chunk is not None:
                break
        elif cid == b"fmt ":
            fmt_chunk = data[body_start:body_start + size]
        pos = body_start + size + (size & 1)
    if fmt_chunk is None or len(fmt_chunk) < 16:
        raise AudioError(f"{name}: corrupt WAV (no valid fmt chunk)")
    if payload is None:
        raise AudioError(f"{name}: corrupt WAV (no data chunk)")
    fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt_chunk[:16])
    if fmt == _FMT_EXT and len(fmt_chunk) >= 26:
        fmt = struct.unpack("<H", fmt_chunk[24:26])[0]   # first two bytes of the SubFormat GUID
    if not 1 <= channels <= 8:
        raise AudioError(f"{name}: corrupt WAV ({channels} channels)")
    if not 4000 <= rate <= 192000:
        raise AudioError(f"{name}: unsupported sample rate {rate} Hz")
    return fmt, channels, rate, bits, payload


def _decode(fmt: int, bits: int, payload: bytes, name: str) -> np.ndarray:
    if fmt in (_FMT_MULAW, _FMT_ALAW):
        raw = np.frombuffer(payload, dtype=np.uint8)
        return (ulaw_decode(raw) if fmt == _FMT_MULAW else alaw_decode(raw)).astype(np.float64)
    width = bits // 8
    if bits % 8 or width not in (1, 2, 3, 4):
        raise AudioError(f"{name}: unsupported sample width {bits} bits")
    payload = payload[:len(payload) - len(payload) % width]
    if fmt == _FMT_FLOAT:
        if width != 4:
            raise AudioError(f"{name}: unsupported float width {bits} bits")
        f = np.frombuffer(payload, dtype="<f4").astype(np.float64)
        return np.nan_to_num(f) * 32767.0
    if fmt != _FMT_PCM:
        raise AudioError(f"{name}: unsupported WAV encoding (format tag {fmt})")
    if width == 1:                               # 8-bit WAV is unsigned
        return (np.frombuffer(payload, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    if width == 2:
        return np.frombuffer(payload, dtype="<i2").astype(np.float64)
    if width == 3:
        b = np.frombuffer(payload, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - 0x1000000, v)
        return v.astype(np.float64) / 256.0
    return np.frombuffer(payload, dtype="<i4").astype(np.float64) / 65536.0


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def write_wav(audio: Audio, path: str | os.PathLike[str] | None = None) -> bytes:
    """16-bit mono PCM WAV bytes (also written to ``path`` when given)."""
    pcm = audio.pcm_bytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16,
                         _FMT_PCM, 1, audio.rate, audio.rate * 2, 2, 16, b"data", len(pcm))
    out = header + pcm
    if path is not None:
        Path(path).write_bytes(out)
    return out


# ---------------------------------------------------------------- resampling

def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Band-limited (FFT) resampling of int16 samples; returns int16.

    Downsampling drops everything above the new Nyquist frequency, so there is no aliasing.
    """
    if from_rate <= 0 or to_rate <= 0:
        raise AudioError(f"bad sample rates {from_rate} -> {to_rate}")
    if from_rate == to_rate or len(samples) == 0:
        return np.asarray(samples, dtype=np.int16)
    n = len(samples)
    m = max(1, int(round(n * to_rate / from_rate)))
    spec = np.fft.rfft(np.asarray(samples, dtype=np.float64))
    keep = min(len(spec), m // 2 + 1)
    out_spec = np.zeros(m // 2 + 1, dtype=np.complex128)
    out_spec[:keep] = spec[:keep]
    if m < n and m % 2 == 0:
        out_spec[-1] = out_spec[-1].real          # the new Nyquist bin of a real signal is real
    y = np.fft.irfft(out_spec, n=m) * (m / n)
    return _to_int16(y)


def resample_blocks(samples: np.ndarray, from_rate: int, to_rate: int, *,
                    block_seconds: float = 8.0, margin_seconds: float = 0.25) -> np.ndarray:
    """``resample`` a block at a time (each with ``margin_seconds`` of its neighbours on both
    sides, cut off again), so memory stays that of one block whatever the length, and no FFT
    is of a huge (or prime) length. Blocks start on sample indices that map to whole output
    indices, so they join without a gap or an overlap."""
    if from_rate == to_rate or len(samples) == 0:
        return np.asarray(samples, dtype=np.int16)
    g = math.gcd(from_rate, to_rate)
    step_in, step_out = from_rate // g, to_rate // g
    block = max(1, int(block_seconds * from_rate) // step_in) * step_in
    margin = max(1, int(margin_seconds * from_rate) // step_in) * step_in
    n = len(samples)
    out = np.empty(max(1, int(round(n * to_rate / from_rate))), dtype=np.int16)
    for start in range(0, n, block):
        lo, hi = max(0, start - margin), min(n, start + block + margin)
        part = resample(samples[lo:hi], from_rate, to_rate)
        o_start = start // step_in * step_out
        o_end = min(len(out), (start + block) // step_in * step_out)
        skip = (start - lo) // step_in * step_out
        got = part[skip:skip + o_end - o_start]
        out[o_start:o_start + len(got)] = got
        out[o_start + len(got):o_end] = 0  # (only ever the rounding of the last sample)
    return out


def to_rate(audio: Audio, rate: int) -> Audio:
    return audio if audio.rate == rate else Audio(resample(audio.samples, audio.rate, rate), rate)


# ---------------------------------------------------------------- G.711

_ULAW_BIAS, _ULAW_CLIP = 0x84, 32635


def ulaw_encode(samples: np.ndarray) -> np.ndarray:
    """int16 → G.711 mu-law bytes (uint8), as a telephone network encodes them."""
    # Same arithmetic as the classic Sun g711.c (and CPython's audioop): 14-bit magnitude,
    # arithmetic shift for negatives, clip at 8159, bias 33.
    x = np.asarray(samples, dtype=np.int32) >> 2
    sign = np.where(x < 0, 0x80, 0x00)
    mag = np.minimum(np.abs(x), _ULAW_CLIP >> 2) + (_ULAW_BIAS >> 2)
    exponent = np.clip(np.floor(np.log2(mag)).astype(np.int32) - 5, 0, 7)
    mantissa = (mag >> (exponent + 1)) & 0x0F
    out: np.ndarray = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return out


def ulaw_decode(codes: np.ndarray) -> np.ndarray:
    """G.711 mu-law bytes → int16."""
    u = ~np.asarray(codes, dtype=np.int32) & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    mag = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return np.where(sign != 0, -mag, mag).astype(np.int16)


def alaw_decode(codes: np.ndarray) -> np.ndarray:
    """G.711 A-law bytes → int16."""
    a = np.asarray(codes, dtype=np.int32) ^ 0x55
    sign, exponent, mantissa = a & 0x80, (a >> 4) & 0x07, a & 0x0F
    mag = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1))
    return np.where(sign != 0, mag, -mag).astype(np.int16)


def telephone_channel(audio: Audio) -> Audio:
    """What a caller's audio becomes on the phone network: 8 kHz, G.711 mu-law, decoded again."""
    narrow = to_rate(audio, TELEPHONE_RATE)
    return Audio(ulaw_decode(ulaw_encode(narrow.samples)), TELEPHONE_RATE)


# ---------------------------------------------------------------- alignment

def align(recorded: Audio, reference: Audio, *, max_lag_seconds: float = 5.0) -> Alignment:
    """Find where ``reference`` sits inside ``recorded`` and how faithfully it was kept.

    Both are brought to the lower of their two rates. The offset maximises the normalised
    cross-correlation; ``correlation`` and ``snr_db`` are measured over the overlap at that offset
    (``snr_db`` after the best gain, so a level change does not count as noise).
    """
    rate = min(recorded.rate, reference.rate)
    x = to_rate(recorded, rate).samples.astype(np.float64)
    y = to_rate(reference, rate).samples.astype(np.float64)
    if len(x) == 0 or len(y) == 0:
        raise AudioError("cannot align empty audio")
    x, y = x - x.mean(), y - y.mean()
    n = len(x) + len(y) - 1
    nfft = 1 << (n - 1).bit_length()
    cc = np.fft.irfft(np.fft.rfft(x, nfft) * np.conj(np.fft.rfft(y, nfft)), nfft)
    lags = np.concatenate((np.arange(0, len(x)), np.arange(-(len(y) - 1), 0)))
    values = np.concatenate((cc[:len(x)], cc[nfft - (len(y) - 1):]))
    max_lag = int(max_lag_seconds * rate)
    mask = np.abs(lags) <= max_lag
    # normalise each lag by the energies of the overlapping parts, so a short overlap with a
    # loud burst does not win over the true, long overlap
    cx, cy = np.concatenate(([0.0], np.cumsum(x * x))), np.concatenate(([0.0], np.cumsum(y * y)))
    lo = np.maximum(lags, 0)
    hi = np.minimum(len(x), lags + len(y))
    ex = cx[np.maximum(hi, lo)] - cx[lo]
    ey = cy[np.maximum(hi - lags, lo - lags)] - cy[lo - lags]
    overlap = np.maximum(hi - lo, 0)
    min_overlap = min(len(x), len(y)) // 2
    valid = mask & (overlap >= max(1, min_overlap)) & (ex > 0) & (ey > 0)
    if not valid.any():
        raise AudioError("recordings do not overlap enough to align")
    score = np.full(len(values), -np.inf)
    score[valid] = values[valid] / np.sqrt(ex[valid] * ey[valid])
    best = int(np.argmax(score))
    lag = int(lags[best])
    xs, ys = x[lo[best]:hi[best]], y[lo[best] - lag:hi[best] - lag]
    gain = float(np.dot(xs, ys) / np.dot(ys, ys))
    residual = xs - gain * ys
    signal_energy = float(np.dot(gain * ys, gain * ys))
    noise_energy = float(np.dot(residual, residual))
    snr = float("inf") if noise_energy == 0 else 10 * np.log10(max(signal_energy, 1e-12) / noise_energy)
    return Alignment(offset=lag, offset_seconds=lag / rate, correlation=float(score[best]),
                     snr_db=float(snr), gain=gain, overlap_seconds=len(xs) / rate)

