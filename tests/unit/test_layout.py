"""The package's shape: small modules, one error class per error_id."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from ivr.core.errors import all_errors

PACKAGE = Path(__file__).resolve().parents[2] / "ivr"
MAX_LINES = 420  # "modules under ~400 lines"; a module past this is split by responsibility


def test_no_module_is_too_long() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if "migrations" not in p.parts and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_one_class_per_error_id() -> None:
    import ivr
    for info in pkgutil.walk_packages(ivr.__path__, "ivr."):  # every module's error classes
        if ".migrations" not in info.name:
            importlib.import_module(info.name)
    seen: dict[str, str] = {}
    for cls in all_errors():
        other = seen.setdefault(cls.error_id, cls.__name__)
        assert other == cls.__name__, f"{cls.error_id}: {other} and {cls.__name__}"
    assert len(seen) > 30
