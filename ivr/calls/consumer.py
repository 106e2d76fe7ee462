"""The recorder's own thread: follows this node's CEL journal for as long as the controller runs.

The thread has its own asyncio loop and its own database engine, so routing (FastAGI, on the
main loop) never waits for a record to be written, and a slow or failing database only delays
records. Each pass records one bounded chunk (``ivr.calls.recorder``); when a pass fails (the
database is locked, full or restarting) the same chunk is tried again with backoff until it
goes through — no restart, no manual step. What each committed chunk wrote is handed to the
main loop (``on_recorded``: live views, voicemail ingest, callback tracking).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from ivr.calls.journal import Position, complete_end, reached
from ivr.calls.recorder import CallRecorder, Recorded
from ivr.core.config import Config
from ivr.db.session import create_engine, make_sessionmaker
from ivr.evidence.chain import seal_backlog

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_INITIAL = 0.2  # seconds before a failed chunk is tried again, doubling
RETRY_MAX = 5.0
PRUNE_EVERY = 600.0  # seconds between prunes of folded raw events


def lower_priority(nice: int) -> None:
    """This thread, and the threads it starts (the database driver's), yield the CPU to call
    set-up on a busy host (issue 16, docs/decisions.md "The usual call evaluates nothing; records
    yield the CPU"): a Linux nice value is per thread and inherited. Never raised above what the
    process already has."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, max(nice, os.getpriority(os.PRIO_PROCESS, tid)))
    except OSError as exc:
        log.warning("recorder: could not lower its priority: %s", exc)


class JournalConsumer:
    def __init__(self, config: Config, on_recorded: Callable[[Recorded], None]) -> None:
        self.config, self.on_recorded = config, on_recorded
        self.recorder: CallRecorder | None = None
        self.position: Position | None = None  # committed (as the main loop last heard)
        self.failures = 0  # failed passes since start
        self.failing_since: float | None = None  # wall time of the first failure in a row
        self.last_error = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._progress: asyncio.Condition | None = None

    # -- the main loop's side ---------------------------------------------------------------
    def start(self) -> None:
        self._main = asyncio.get_running_loop()
        self._progress = asyncio.Condition()
        self._thread = threading.Thread(target=self._thread_main, name="ivr-recorder", daemon=True)
        self._thread.start()
        self._started.wait(30)

    async def stop(self) -> None:
        if self._thread is None or self._loop is None or self._stop is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(self._thread.join, 30)
        self._thread = None

    async def call(self, fn: Callable[[CallRecorder], Awaitable[T]], timeout: float = 60) -> T:
        """Run ``fn(recorder)`` on the recorder's loop (the one writer of records)."""
        if self._loop is None:
            raise RuntimeError("the recorder is not running")

        async def run() -> T:
            assert self.recorder is not None
            if self.recorder.position is None:
                await self.recorder.load()
            return await fn(self.recorder)
        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)

    async def caught_up(self, timeout: float = 60) -> None:
        """Until every whole line Asterisk had written to the journal when this was called is
        recorded (TimeoutError otherwise: the database is failing, say)."""
        if self._progress is None:
            raise RuntimeError("the recorder is not running")
        target = await asyncio.to_thread(complete_end, self.config.cel_journal)
        if target is None:
            return
        async with self._progress:
            await asyncio.wait_for(self._progress.wait_for(
                lambda: self.position is not None and reached(self.position, target)), timeout)

    def _delivered(self, recorded: Recorded) -> None:
        if recorded.position is not None:
            self.position = recorded.position
        try:
            self.on_recorded(recorded)
        except Exception:
            log.exception("a listener failed on recorded calls")
        self._spawn(self._notify())

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _notify(self) -> None:
        assert self._progress is not None
        async with self._progress:
            self._progress.notify_all()

    def stats(self) -> dict[str, Any]:
        rec = self.recorder
        return {"events": rec.ingested if rec else 0, "records": rec.recorded if rec else 0,
                "open_calls": len(rec.open) if rec else 0, "failures": self.failures,
                "failing_for": round(time.time() - self.failing_since, 1)
                if self.failing_since is not None else 0,
                "last_error": self.last_error, "position": self.position}

    # -- the recorder's thread ---------------------------------------------------------------
    def _thread_main(self) -> None:
        lower_priority(self.config.records.nice)
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            engine = create_engine(self.config)
            self.recorder = CallRecorder(make_sessionmaker(engine), self.config)
        finally:
            self._started.set()  # start() waits for this, whatever happened
        try:
            await self._follow(self.recorder)
        finally:
            await engine.dispose()

    async def _follow(self, recorder: CallRecorder) -> None:
        cfg = self.config.records
        delay, next_prune = RETRY_INITIAL, time.monotonic() + 5.0
        next_seal = time.monotonic()
        assert self._stop is not None
        while not self._stop.is_set():
            try:
                done = await recorder.step(cfg.chunk_bytes)
                if cfg.keep_raw_days > 0 and time.monotonic() >= next_prune:
                    pruned = await recorder.prune(cfg.keep_raw_days)
                    next_prune = time.monotonic() + (1.0 if pruned else PRUNE_EVERY)
            except Exception as exc:
                self.failures += 1
                self.failing_since = self.failing_since or time.time()
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("could not record the journal (%s); trying again in %.1f s",
                            self.last_error, delay)
                await self._pause(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            if self.failing_since is not None:
                log.warning("recording the journal again after %.1f s of failures",
                            time.time() - self.failing_since)
            delay, self.failing_since = RETRY_INITIAL, None
            if done is not None:
                self._hand_over(done)
            elif recorder.position is not None and self.position != recorder.position:
                self._hand_over(Recorded(position=dict(recorder.position)))
            if time.monotonic() >= next_seal:
                next_seal = await self._seal(recorder)
            if done is None:
                await self._pause(cfg.poll_seconds)

    async def _seal(self, recorder: CallRecorder) -> float:
        """Case events and audit entries into the evidence chains (``ivr.evidence``); when to
        look again (at once while there is a backlog)."""
        try:
            sealed = await seal_backlog(recorder.db, recorder.node)
        except Exception as exc:  # the database is failing: the recorder's retries show it
            log.warning("could not seal into the evidence chains: %s", exc)
            sealed = 0
        return time.monotonic() + (0.0 if sealed else self.config.evidence.seal_seconds)

    def _hand_over(self, recorded: Recorded) -> None:
        assert self._main is not None
        try:
            self._main.call_soon_threadsafe(self._delivered, recorded)
        except RuntimeError:
            pass  # the main loop is closed: the controller is stopping

    async def _pause(self, seconds: float) -> None:
        assert self._stop is not None
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            pass
