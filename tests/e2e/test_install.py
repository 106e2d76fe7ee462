"""A plain (non-editable) ``pip install .`` into a fresh venv renders every Asterisk file.

The templates are package data (ivr/asterisk/templates); an install that left them behind used to
give an ``ivr render`` that wrote 0 files without an error. This installs a copy of the source
tree (so no build output lands in the work tree) with its dependencies pinned by
requirements.lock, then runs the README's first commands from an empty folder. Needs pip and
its cache or the package index (~15 s with a warm cache); no Asterisk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.asterisk.render import template_names

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def _run(cmd: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 120) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_pip_install_renders_every_asterisk_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.lock"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "ivr", src / "ivr", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # nothing of this checkout or of the test's environment may leak into the installed commands
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IVR_", "PYTHON", "VIRTUAL_ENV"))}

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--quiet",
          "--disable-pip-version-check", "-c", src / "requirements.lock", src], tmp_path, env,
         timeout=300)

    work = tmp_path / "deployment"  # an empty folder: no ivr.toml, no templates beside it
    work.mkdir()
    where = _run([py, "-c", "import ivr; print(ivr.__file__)"], work, env).strip()
    assert Path(where).is_relative_to(venv), where  # the installed copy, not the repository
    ivr = venv / "bin" / "ivr"
    _run([ivr, "init"], work, env)
    assert (work / "ivr.toml").is_file()
    assert "database at head" in _run([ivr, "db", "upgrade"], work, env)
    out = _run([ivr, "render", "--out", work / "etc"], work, env)

    expected = sorted(name.removesuffix(".tmpl") for name in template_names())
    written = sorted(p.name for p in (work / "etc").iterdir())
    assert written == expected and len(expected) == 17, (written, out)
    assert f"wrote {len(expected)} files" in out
    for name in written:
        text = (work / "etc" / name).read_text(encoding="utf-8")
        assert text.strip() and "{{" not in text, name
    extensions = (work / "etc" / "extensions.conf").read_text(encoding="utf-8")
    for context in ("[ivr-citizens]", "[ivr-route]", "[ivr-menu]", "[ivr-step-voicemail]",
                    "[ivr-callback-run]"):  # the fragments shipped too
        assert context in extensions, context

    # packaging metadata: the SPDX licence string, no unused dependency
    meta = next(venv.glob("lib/python*/site-packages/ivr-*.dist-info/METADATA")).read_text()
    assert "License-Expression: AGPL-3.0-or-later" in meta
    assert "panoramisk" not in meta.lower()
