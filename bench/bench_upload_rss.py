"""Peak memory of validating an uploaded prompt (issue 9): each case in a fresh process, its
peak RSS (``ru_maxrss``) against the same process's RSS after the imports, so the figure is
what the upload itself costs. Cases: the resampler bomb (20 MB µ-law at 192 kHz, a prime
number of samples) and the largest uploads that are accepted.

    .venv/bin/python bench/bench_upload_rss.py

Results and the figure before the header bounds: bench/README.md ("Upload memory").
"""

from __future__ import annotations

import json
import resource
import struct
import subprocess
import sys
import time


def wav(fmt: int, channels: int, rate: int, bits: int, frames: int) -> bytes:
    """A WAV of ``frames`` frames of a loud pattern (not silence)."""
    width = bits // 8 * channels
    pattern = bytes((i * 37 + 11) & 0xFF for i in range(251 * width))
    payload = (pattern * (frames * width // len(pattern) + 1))[:frames * width]
    head = struct.pack("<HHIIHH", fmt, channels, rate, rate * width, width, bits)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", 16) + head + b"data"
            + struct.pack("<I", len(payload)) + payload)
    return b"RIFF" + struct.pack("<I", len(body)) + body


CASES = {
    "bomb: mu-law 192 kHz, 20000003 samples (104 s)": (7, 1, 192000, 8, 20_000_003),
    "bomb: mu-law 48 kHz, 20000003 samples (417 s)": (7, 1, 48000, 8, 20_000_003),
    "bomb: PCM16 8 kHz, 8 channels (1 MB)": (1, 8, 8000, 16, 65_536),
    "accepted: PCM16 48 kHz mono 120 s": (1, 1, 48000, 16, 48000 * 120 - 1),
    "accepted: mu-law 48 kHz mono 120 s": (7, 1, 48000, 8, 48000 * 120 - 7),
    "accepted: PCM16 44.1 kHz stereo 118 s": (1, 2, 44100, 16, 44100 * 118 - 3),
}


def child(name: str) -> None:
    from ivr.followup.prompts import validate_upload
    from ivr.speech.audio import AudioError
    data = wav(*CASES[name])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        validate_upload(data)
        result = "accepted"
    except AudioError as exc:
        result = f"refused: {exc}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"case": name, "result": result, "mb_before": round(base / 1024),
                      "mb_peak": round(peak / 1024), "mb_added": round((peak - base) / 1024),
                      "seconds": round(time.perf_counter() - t0, 2), "bytes": len(data)}))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    for name in CASES:
        out = subprocess.run([sys.executable, __file__, "--child", name], capture_output=True,
                             text=True, timeout=600)
        print(out.stdout.strip() or out.stderr.strip()[-500:])


if __name__ == "__main__":
    main()
