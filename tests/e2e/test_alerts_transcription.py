"""The transcription backlog alert on real components: a citizen leaves a spoken message (real
Asterisk, sipp with RTP), the recognition worker process (real Vosk) is paused with SIGSTOP while
the job waits → ``transcription_backlog`` raised; the worker continued with SIGCONT → the job
is done and the alert clears itself."""

from __future__ import annotations

import asyncio
import os
import signal
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ivr.lab import ports
from ivr.lab.deploy import LabDeployment, create_lab
from tests.e2e.routing_helpers import eventually
from tests.e2e.test_voicemail import (
    DIRECTORY,
    KO_NUMBER,
    LEAD_SECONDS,
    SPEECH,
    db_rows,
    greeting_wav,
    leave_message,
    processes_of,
    speech_audio,
    ulaw_file,
    upload,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    phones = dict(zip(("op1", "kim", "wang"), ports.free_ports(3), strict=False))
    deployment = await create_lab(
        asterisk_root, tmp_path / "lab", DIRECTORY.format(**phones),
        voicemail={"workers": 1, "scan_seconds": 2},
        alerts={"interval": 0.2, "transcription_oldest_seconds": 4, "pool_hours": ""})
    deployment.start_controller()
    await deployment.wait_ready()
    status, body = deployment.request("PUT", "/api/v1/numbers/+865585557001", {"language": "ko"})
    assert status == 200, body
    # a short greeting, as test_voicemail's lab: the caller speaks right after the beep
    status, body = await upload(deployment, "kim-min", greeting_wav(tmp_path / "g.wav"), "ko")
    assert status == 200, body
    yield deployment
    deployment.close()
    print(deployment.controller_log()[-5000:])
    deployment.asterisk.remove()


def backlog_alert(lab: LabDeployment) -> float | None:
    req = urllib.request.Request(f"{lab.api}/metrics", headers={
        "Authorization": f"Bearer {lab.config.http.api_token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "ivr_alert" and s.labels["alert"] == "transcription_backlog":
                return s.value
    return None


async def test_paused_worker_raises_the_backlog_alert(lab: LabDeployment, sipp: Any,
                                                      tmp_path: Path) -> None:
    assert await asyncio.to_thread(backlog_alert, lab) == 0.0
    source = speech_audio(SPEECH, tmp_path / "speech.wav")
    await leave_message(lab, sipp, KO_NUMBER, ulaw_file(source, tmp_path / "speech.ul"),
                        LEAD_SECONDS + source.duration + 1.0)
    assert lab.controller is not None

    def worker() -> list[int]:
        return [p for p in processes_of(lab) if p != lab.controller.pid]  # type: ignore[union-attr]
    # the controller's children: the recognition worker (and multiprocessing's helpers), paused
    pids = await eventually(lambda: asyncio.to_thread(worker), timeout=30)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        await eventually(lambda: asyncio.to_thread(lambda: backlog_alert(lab) == 1.0), timeout=30)
        jobs = db_rows(lab, "SELECT status FROM transcription_jobs")
        assert jobs and jobs[0][0] in ("pending", "running"), jobs  # nothing done while paused
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    await eventually(lambda: asyncio.to_thread(lambda: backlog_alert(lab) == 0.0), timeout=90,
                     interval=0.5)
    assert db_rows(lab, "SELECT status FROM transcription_jobs") == [("done",)]
    assert "alert cleared: transcription_backlog" in lab.controller_log()
