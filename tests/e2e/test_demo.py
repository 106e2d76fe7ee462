"""The README's demo command works: it really routes calls (its --smoke mode, as CI runs it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def test_demo_smoke_routes_every_published_number(asterisk_root: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "ivr.lab.demo", "--smoke", "--workdir",
                           str(tmp_path / "demo")], cwd=REPO, capture_output=True, text=True,
                          timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "smoke: 5/5 calls recorded, all answered" in out, out[-4000:]
    assert "web UI / 网页" in out and "official    guanyuan" in out  # the accounts it printed
    # the registrable phone it printed registers with those credentials (then ready)
    assert "SIP user / 用户名   op-softphone" in out and "password / 密码" in out, out[-4000:]
    assert "softphone op-softphone: registered, ready" in out, out[-4000:]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "./scripts/demo.sh" in readme and "./scripts/run-tests.sh" in readme
