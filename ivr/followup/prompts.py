"""Default IVR prompts synthesised with espeak-ng, and validation of uploaded prompts.

Prompts are 8 kHz mono 16-bit PCM WAV, what Asterisk plays without transcoding on a G.711 call.
Files are laid out as Asterisk looks sounds up by channel language: ``<dir>/<lang>/<name>.wav``
with ``lang`` ``zh`` or ``en`` (a prompt named ``ivr-unavailable`` plays as ``ivr-unavailable``).
They are generated at setup (``generate_default_prompts``) and not committed.

These functions run subprocesses and block: from the event loop call them with
``asyncio.to_thread``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivr.speech.audio import TELEPHONE_RATE, Audio, AudioError, read_wav, to_rate, write_wav

# Mandarin uses espeak-ng's "cmn-latn-pinyin" voice: with plain "cmn" (Debian's espeak-ng 1.51)
# characters become pinyin with tone digits and the digits are read in English ("dui four bu
# four qi three" for 对不起); cmn-latn-pinyin gives Mandarin phonemes with tones.
VOICES = {"zh": "cmn-latn-pinyin", "en": "en"}
UPLOAD_MAX_SECONDS = 120.0
SILENCE_PEAK = 64            # an upload whose loudest sample is below this is silence


@dataclass(frozen=True, slots=True)
class PromptText:
    name: str
    zh: str
    en: str


def greeting_text(name_zh: str, name_en: str) -> PromptText:
    return PromptText(
        "ivr-greeting",
        f"您好，您拨打的是{name_zh}的公开电话。现在无人接听，请在提示音后留言，"
        f"我们会尽快给您回电。",
        f"Hello, you have reached the public line of {name_en}. No one can take your call "
        f"right now. Please leave a message after the tone, and we will call you back as soon "
        f"as possible.")


DEFAULT_PROMPTS: tuple[PromptText, ...] = (
    PromptText("ivr-unavailable",
               "对不起，现在没有工作人员可以接听您的电话，请稍后再拨。",
               "Sorry, no one is available to take your call right now. Please call again later."),
    PromptText("ivr-menu",
               "留言请按1，转接人工服务请按0，重听请按9。",
               "To leave a message, press 1. To speak to an operator, press 0. "
               "To hear these options again, press 9."),
    PromptText("ivr-survey",
               "您好，这里是市政府公开电话回访。满意请按1，基本满意请按2，不满意请按3，不再回访请按9。",
               "Hello, this is the city's public line following up on your call. Satisfied, "
               "press 1. Fairly satisfied, press 2. Not satisfied, press 3. To receive no more "
               "such calls, press 9."),
    PromptText("ivr-survey-thanks", "感谢您的评价，再见。", "Thank you for your rating. Goodbye."),
    PromptText("ivr-queued-callback", "按1保留排队位置并挂机，稍后回电。",
               "Press 1 to keep your place in the queue and hang up: we will call you back."),
    PromptText("ivr-queued-callback-ok", "已为您保留排队位置，稍后回电，再见。",
               "Your place is kept; we will call you back. Goodbye."),
)


class PromptError(RuntimeError):
    """A prompt could not be synthesised (espeak-ng or sox missing or failing)."""


def _run(cmd: list[str], timeout: float = 60.0) -> None:
    if shutil.which(cmd[0]) is None:
        raise PromptError(f"{cmd[0]} is not installed (apt-get install espeak-ng sox)")
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)
    except subprocess.CalledProcessError as exc:
        raise PromptError(f"{cmd[0]} failed: {exc.stderr.decode(errors='replace').strip()}") from exc
    except subprocess.TimeoutExpired as exc:
        raise PromptError(f"{cmd[0]} timed out") from exc


def synthesize(text: str, language: str, out: Path, *, speed: int = 150) -> Path:
    """Speak ``text`` with espeak-ng (see VOICES) into an 8 kHz mono 16-bit WAV."""
    voice = VOICES.get(language, language)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        _run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text])
        _run(["sox", str(raw), "-r", str(TELEPHONE_RATE), "-c", "1", "-b", "16",
              "-e", "signed-integer", str(out), "norm", "-3"])
    read_wav(out)          # what we wrote must itself pass validation
    return out


def beep(out: Path, *, seconds: float = 0.4, freq: int = 1000) -> Path:
    """The tone after which the caller speaks."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(["sox", "-n", "-r", str(TELEPHONE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
          str(out), "synth", f"{seconds}", "sine", str(freq), "gain", "-6"])
    return out


def generate_default_prompts(directory: Path, *, name_zh: str = "本单位",
                             name_en: str = "this office") -> list[Path]:
    """Write every default prompt in Mandarin and English, plus the beep, under ``directory``."""
    written: list[Path] = []
    for prompt in (greeting_text(name_zh, name_en), *DEFAULT_PROMPTS):
        for lang in ("zh", "en"):
            text = prompt.zh if lang == "zh" else prompt.en
            written.append(synthesize(text, lang, directory / lang / f"{prompt.name}.wav"))
    for lang in ("zh", "en"):
        written.append(beep(directory / lang / "ivr-beep.wav"))
    return written


def generate_greeting(directory: Path, key: str, name_zh: str, name_en: str) -> list[Path]:
    """A personal greeting ``ivr-greeting-<key>`` (e.g. the official's id) in both languages."""
    if not key.replace("-", "").replace("_", "").isalnum():
        raise PromptError(f"prompt key {key!r} must be letters, digits, - or _")
    text = greeting_text(name_zh, name_en)
    return [synthesize(text.zh, "zh", directory / "zh" / f"ivr-greeting-{key}.wav"),
            synthesize(text.en, "en", directory / "en" / f"ivr-greeting-{key}.wav")]


def validate_upload(wav_bytes: bytes, *, max_seconds: float = UPLOAD_MAX_SECONDS) -> bytes:
    """Check an uploaded WAV prompt and return it as 8 kHz mono 16-bit PCM WAV bytes.

    Raises AudioError for anything unusable: not a WAV, corrupt, empty, silent or too long.
    """
    if not wav_bytes:
        raise AudioError("upload is empty (0 bytes)")
    audio = read_wav(wav_bytes, max_seconds=max_seconds)
    if int(np.max(np.abs(audio.samples.astype(np.int32)))) < SILENCE_PEAK:
        raise AudioError("upload is silent")
    narrow: Audio = to_rate(audio, TELEPHONE_RATE)
    return write_wav(narrow)
