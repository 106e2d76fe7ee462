"""ivr/asterisk/noexec.py: the program it starts runs; nothing that program starts does (the
dynamic-loader detour included). Asterisk is started so in the lab and the container."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ivr.asterisk.noexec as noexec

SCRIPT = Path(noexec.__file__)
LOADER = "/lib64/ld-linux-x86-64.so.2"


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "/", *argv], capture_output=True,
                          text=True, timeout=30)


def test_the_program_runs_but_starts_nothing() -> None:
    ok = _run("/bin/sh", "-c", "echo started")
    assert ok.returncode == 0 and ok.stdout == "started\n", ok
    for inner in ("/bin/true", f"{LOADER} /bin/true"):
        r = _run("/bin/sh", "-c", f"{inner}; echo rc=$?")
        assert "Operation not permitted" in r.stderr and "rc=126" in r.stdout, (inner, r)
    replaced = _run("/bin/sh", "-c", "exec /bin/true")  # not even in place of itself
    assert replaced.returncode == 126 and "Operation not permitted" in replaced.stderr, replaced
    # without it, the same command runs (the assertions above can fail)
    plain = subprocess.run(["/bin/sh", "-c", "/bin/true; echo rc=$?"], capture_output=True,
                           text=True, timeout=30)
    assert plain.stdout == "rc=0\n"


def test_a_program_that_cannot_start_is_reported() -> None:
    r = _run("/nonexistent/program")
    assert r.returncode != 0 and "cannot run /nonexistent/program" in r.stderr, r
