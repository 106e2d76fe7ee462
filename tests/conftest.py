"""Shared fixtures: a real Asterisk (provisioned, never skipped), sipp runners, free ports, artifacts.

Fixtures:
  asterisk_root       session; Path under which asterisk runs ("/" or the sid chroot). Fails
                      the tests (never skips) when Asterisk cannot be provisioned.
  free_ports          callable: free_ports(n=1) -> list[int] of free loopback ports.
  artifacts           per-test folder artifacts/run-<stamp>-<pid>/<test>/ (gitignored).
  asterisk_instance   factory: asterisk_instance(files, name=...) -> started AsteriskInstance;
                      stopped and removed after the test; on failure its log tail is printed and
                      its log copied into the test's artifacts folder.
  sipp                factory (async tests): sipp(scenario, **Sipp kwargs) -> Sipp, not started,
                      workdir under the test's artifacts; every sipp is stopped after the test.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from ivr.lab import ports
from ivr.lab.asterisk import AsteriskError, AsteriskInstance, provision
from ivr.lab.sipp import Sipp

REPO = Path(__file__).resolve().parents[1]
# one folder per run, shared by pytest-xdist's workers (named by the run's id, which they all
# have), so artifacts/latest holds every test's artifacts; a run without workers: its process
_XDIST_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:12]
RUN_DIR = REPO / "artifacts" / (f"run-x{_XDIST_RUN}" if _XDIST_RUN else
                                 f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def _failed(request: pytest.FixtureRequest) -> bool:
    return any(getattr(getattr(request.node, f"rep_{w}", None), "failed", False)
               for w in ("setup", "call"))


@pytest.fixture(scope="session")
def asterisk_root() -> Path:
    try:
        return provision()
    except (AsteriskError, OSError) as e:
        pytest.fail(f"Asterisk could not be provisioned (scripts/provision-asterisk.sh): {e}",
                    pytrace=False)


@pytest.fixture
def free_ports() -> Callable[..., list[int]]:
    def take(n: int = 1, host: str = "127.0.0.1") -> list[int]:
        return ports.free_ports(n, host)
    return take


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])[:100]
    d = RUN_DIR / name
    d.mkdir(parents=True, exist_ok=True)
    latest = REPO / "artifacts" / "latest"
    try:
        if latest.is_symlink() or not latest.exists():
            tmp = latest.with_name(f".latest-{os.getpid()}")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(RUN_DIR.name)
            tmp.replace(latest)
    except OSError:
        pass
    return d


@pytest.fixture
def asterisk_instance(asterisk_root: Path, artifacts: Path,
                      request: pytest.FixtureRequest) -> Iterator[Callable[..., AsteriskInstance]]:
    started: list[AsteriskInstance] = []

    def make(files: Mapping[str, str | bytes], name: str = "test", *, start: bool = True,
             **kwargs: Any) -> AsteriskInstance:
        inst = AsteriskInstance(asterisk_root, name, files, **kwargs)
        started.append(inst)
        if start:
            inst.start()
        return inst

    yield make
    failed = _failed(request)
    for inst in started:
        inst.stop()
        if failed:
            print(f"\n===== {inst!r} log tail =====\n{inst.log_tail(120)}")
        dest = artifacts / f"asterisk-{inst.instance_dir.name}"
        shutil.copytree(inst.host_path(inst.log_dir), dest, dirs_exist_ok=True)
        inst.remove()


@pytest.fixture
async def sipp(artifacts: Path) -> Any:
    made: list[Sipp] = []

    def make(scenario: str | Path, **kwargs: Any) -> Sipp:
        kwargs.setdefault("workdir", artifacts / f"sipp-{len(made) + 1}-{Path(str(scenario)).stem}")
        s = Sipp(scenario, **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        await s.stop()
