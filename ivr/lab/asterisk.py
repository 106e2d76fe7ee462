"""Run real Asterisk instances for the demo, tests and benchmarks.

``provision()`` returns the root under which asterisk runs ("/" or a Debian sid chroot).
``AsteriskInstance(root, name, files)`` writes ``files`` into a fresh instance folder
``<root>/srv/ivr-lab/<name>-<random>/etc`` and its own asterisk.conf beside ``etc`` (out of AMI
``GetConfig``'s reach), with ``live_dangerously = no`` and a module folder holding only what
modules.conf loads; it runs Asterisk as a direct child, so several instances run side by side::

    root = provision()
    with AsteriskInstance(root, "demo", {"modules.conf": modules_conf([]),
                                         "pjsip.conf": ..., "extensions.conf": ...}) as ast:
        print(ast.cli("pjsip show endpoints"))
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import functools
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from types import TracebackType

from ivr.lab import ports
from ivr.lab.modules import BASE_MODULES, link_modules, modules_conf

REPO = Path(__file__).resolve().parents[2]
PROVISION_SCRIPT = REPO / "scripts" / "provision-asterisk.sh"
NOEXEC = Path(__file__).resolve().parents[1] / "asterisk" / "noexec.py"
LAB_DIR = PurePosixPath("/srv/ivr-lab")

# Files a module in BASE_MODULES declines to load without; written unless the caller gives them.
DEFAULT_FILES: dict[str, str] = {
    "logger.conf": "[general]\ndateformat = %F %T.%3q\n\n[logfiles]\n"
                   "messages.log => notice,warning,error,verbose\n",
    "queues.conf": "[general]\n",
    "cel.conf": "[general]\nenable = no\n\n[manager]\nenabled = no\n",
    "cel_custom.conf": "[mappings]\nMaster.csv => ${CSV_QUOTE(${eventtype})},${CSV_QUOTE(${eventtime})}\n",
    "cdr.conf": "[general]\nenable = no\n",
    "cdr_manager.conf": "[general]\nenabled = no\n",
    "manager.conf": "[general]\nenabled = no\n",
    "pjsip.conf": "",
    "musiconhold.conf": "[general]\n",
}


# Log lines that make start() fail: a port taken, a config object rejected, a module broken.
FATAL_LOG_PATTERNS: tuple[str, ...] = (
    r"Transport '[^']*' could not be started",
    r"Could not create an object of type",
    r"Unable to bind",
    r"Error loading module",
)


class AsteriskError(RuntimeError):
    pass


@functools.cache
def provision() -> Path:
    """Run scripts/provision-asterisk.sh (builds or unpacks the chroot when needed); return the root."""
    if not PROVISION_SCRIPT.exists():
        raise AsteriskError(f"{PROVISION_SCRIPT} is missing")
    res = subprocess.run(["bash", str(PROVISION_SCRIPT)], capture_output=True,
                         text=True, timeout=1800)
    lines = res.stdout.strip().splitlines()
    if res.returncode != 0 or not lines:
        raise AsteriskError(f"provision-asterisk.sh failed (exit {res.returncode}):\n"
                            f"{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    root = Path(lines[-1])
    if not (root / "usr/sbin/asterisk").exists() and not (root == Path("/") and shutil.which("asterisk")):
        raise AsteriskError(f"provision-asterisk.sh printed {root}, but no asterisk binary is there")
    return root


def _first_existing(root: Path, candidates: Iterable[str], marker: str = "") -> str:
    cands = list(candidates)
    for c in cands:
        if (root / c.lstrip("/") / marker).exists():
            return c
    return cands[0]


_live: weakref.WeakSet[AsteriskInstance] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    """Safety net: an instance its owner forgot to stop dies with the interpreter, not later."""
    for inst in list(_live):
        with contextlib.suppress(Exception):
            inst.kill()


def _set_pdeathsig() -> None:
    """Child side: get SIGTERM when the parent dies (only safe when started from the main thread)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class AsteriskInstance:
    """One Asterisk process with its own configuration and state folder."""

    def __init__(self, root: Path | str, name: str, files: Mapping[str, str | bytes], *,
                 verbose: int = 3, rtp: ports.PortRange | None = None,
                 boot_timeout: float = 30.0,
                 fatal_log: Iterable[str] = FATAL_LOG_PATTERNS,
                 systemname: str | None = None) -> None:
        self.root = Path(root)
        self.systemname = systemname  # prefixes unique ids: several nodes, one database
        self.name = name
        self.verbose = verbose
        self.boot_timeout = boot_timeout
        self.fatal_log = re.compile("|".join(f"(?:{p})" for p in fatal_log)) if fatal_log else None
        slug = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40] or "ast"
        self.instance_dir = LAB_DIR / f"{slug}-{secrets.token_hex(4)}"  # as Asterisk sees it
        self.host_dir = self.host_path(self.instance_dir)
        self.etc_dir = self.instance_dir / "etc"
        self.log_dir = self.instance_dir / "log"
        self.spool_dir = self.instance_dir / "spool"
        self.run_dir = self.instance_dir / "run"
        self.db_dir = self.instance_dir / "lib"
        self.conf = self.instance_dir / "asterisk.conf"  # not in etc: AMI cannot read/write it
        self.ctl = self.run_dir / "asterisk.ctl"
        self.mod_dir = _first_existing(self.root, ["/usr/lib/x86_64-linux-gnu/asterisk/modules",
                                                   "/usr/lib/asterisk/modules",
                                                   "/usr/lib64/asterisk/modules"], "chan_pjsip.so")
        self.data_dir = _first_existing(self.root, ["/usr/share/asterisk", "/var/lib/asterisk"],
                                        "sounds")
        self.files: dict[str, str | bytes] = dict(files)
        if "asterisk.conf" in self.files:
            raise ValueError("asterisk.conf is written by AsteriskInstance")
        self.rtp: ports.PortRange | None = rtp
        if "rtp.conf" not in self.files:
            self.rtp = self.rtp or ports.rtp_range(200)
            self.files["rtp.conf"] = (f"[general]\nrtpstart = {self.rtp.start}\n"
                                      f"rtpend = {self.rtp.end}\n")
        for rel, text in DEFAULT_FILES.items():
            self.files.setdefault(rel, text)
        self.proc: subprocess.Popen[bytes] | None = None
        self.boot_seconds: float | None = None
        self._write_tree()

    # --- paths ---------------------------------------------------------------------------
    def inside(self, path: Path | str) -> str:
        """Host path -> the path Asterisk sees."""
        p = Path(path)
        if self.root == Path("/"):
            return str(p)
        for base, q in ((self.root, p), (self.root.resolve(), p.resolve())):
            try:
                return "/" + str(q.relative_to(base))
            except ValueError:
                continue
        raise ValueError(f"{path} is outside the Asterisk root {self.root}")

    def host_path(self, path: PurePosixPath | str) -> Path:
        """A path as Asterisk sees it -> the host path."""
        return self.root / str(path).lstrip("/")

    @property
    def log_file(self) -> Path:
        return self.host_path(self.log_dir / "messages.log")

    # --- files ---------------------------------------------------------------------------
    def _module_dir(self) -> str:
        """astmoddir: (hard) links to only the modules modules.conf loads, so that nothing else
        can be loaded (AMI ModuleLoad of app_system…); the whole folder when it names none."""
        names = self._declared_modules()
        if not names:
            return self.mod_dir
        link_modules(names, self.host_path(self.mod_dir), self.host_path(self.instance_dir / "modules"))
        return str(self.instance_dir / "modules")

    def _asterisk_conf(self) -> str:
        d = self.instance_dir
        return (
            "[directories]\n"
            f"astetcdir => {self.etc_dir}\n"
            f"astmoddir => {self._module_dir()}\n"
            f"astvarlibdir => {self.db_dir}\n"
            f"astdbdir => {self.db_dir}\n"
            f"astkeydir => {self.db_dir}\n"
            f"astdatadir => {self.data_dir}\n"
            f"astagidir => {self.data_dir}/agi-bin\n"
            f"astspooldir => {self.spool_dir}\n"
            f"astrundir => {self.run_dir}\n"
            f"astlogdir => {self.log_dir}\n"
            f"astcachedir => {d}/cache\n"
            "astsbindir => /usr/sbin\n\n"
            "[options]\n"
            f"verbose = {self.verbose}\n"
            "debug = 0\n"
            "hideconnect = yes\nlive_dangerously = no\n"
            "defaultlanguage = en\n"
            "documentation_language = en_US\n"
            + (f"systemname = {self.systemname}\n" if self.systemname else "")
        )

    def _write_tree(self) -> None:
        for sub in ("etc", "log", "spool", "run", "lib", "cache"):
            (self.host_dir / sub).mkdir(parents=True, exist_ok=True)
        for rel, text in self.files.items():
            self.write_file(rel, text)

    def write_file(self, relpath: str, text: str | bytes) -> Path:
        """Write a file under the instance's etc folder, mode 0640 like ``ivr render`` (then
        ``reload()`` the module)."""
        path = self.host_path(self.etc_dir) / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640), "wb") as fh:
            os.fchmod(fh.fileno(), 0o640)
            fh.write(text.encode() if isinstance(text, str) else text)
        tmp.replace(path)
        self.files[relpath] = text
        return path

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 80) -> str:
        out = self.host_path(self.log_dir / "console.out")
        console = out.read_text(errors="replace") if out.exists() else ""
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        return f"{tail}\n--- console ---\n{console[-3000:]}" if console.strip() else tail

    # --- process -------------------------------------------------------------------------
    def _cmd(self, *args: str, noexec: bool = False) -> list[str]:
        binary = "/usr/sbin/asterisk"
        if self.root == Path("/"):
            binary = shutil.which("asterisk") or binary
        if noexec:  # the server: it and its children can never run a program (noexec.py)
            return [sys.executable, str(NOEXEC), str(self.root), binary, "-C", str(self.conf), *args]
        if self.root == Path("/"):
            return [binary, "-C", str(self.conf), *args]
        return ["chroot", str(self.root), binary, "-C", str(self.conf), *args]

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _declared_modules(self) -> list[str]:
        text = self.files.get("modules.conf", "")
        text = text.decode() if isinstance(text, bytes) else text
        return re.findall(r"^\s*load\s*=>?\s*(\S+?)(?:\.so)?\s*(?:;.*)?$", text, re.M)

    def start(self) -> AsteriskInstance:
        if self.running:
            return self
        missing = [m for m in self._declared_modules()
                   if not (self.host_path(self.mod_dir) / f"{m}.so").exists()]
        if missing:
            raise AsteriskError(f"modules.conf loads modules that do not exist in {self.mod_dir}: "
                                f"{', '.join(missing)}")
        self.host_path(self.conf).write_text(self._asterisk_conf())  # modules.conf may have changed
        ctl = self.host_path(self.ctl)
        ctl.unlink(missing_ok=True)
        log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        t0 = time.monotonic()
        out = open(self.host_path(self.log_dir / "console.out"), "ab")
        try:
            self.proc = subprocess.Popen(
                self._cmd("-f", "-n", noexec=True), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=_set_pdeathsig if threading.current_thread() is threading.main_thread()
                else None)
        finally:
            out.close()
        _live.add(self)
        try:
            while not ctl.exists():
                if self.proc.poll() is not None:
                    raise AsteriskError(f"asterisk {self.name} exited with {self.proc.returncode} "
                                        f"while starting")
                if time.monotonic() - t0 > self.boot_timeout:
                    raise AsteriskError(f"asterisk {self.name}: no control socket after "
                                        f"{self.boot_timeout} s")
                time.sleep(0.02)
            self.cli("core waitfullybooted", timeout=self.boot_timeout)
            self.boot_seconds = time.monotonic() - t0
            declined = sorted(set(self._declared_modules()) - self.loaded_modules())
            if declined:
                raise AsteriskError(f"asterisk {self.name}: modules not running: "
                                    f"{', '.join(declined)}")
            if self.fatal_log:
                with open(self.log_file, errors="replace") as f:
                    f.seek(log_offset)
                    bad = [ln for ln in f if self.fatal_log.search(ln)]
                if bad:
                    raise AsteriskError(f"asterisk {self.name}: fatal log lines:\n{''.join(bad)}")
        except BaseException as e:
            tail = self.log_tail()
            self.kill()
            if isinstance(e, AsteriskError):
                raise AsteriskError(f"{e}\n--- log tail ({self.log_file}) ---\n{tail}") from None
            raise
        return self

    def loaded_modules(self) -> set[str]:
        """Names (without .so) of modules whose status is Running."""
        out = self.cli("module show")
        return {m.group(1) for m in re.finditer(r"^(\S+)\.so\s.*(?<!Not )Running\s", out, re.M)}

    def cli(self, command: str, timeout: float = 15.0) -> str:
        """Run a CLI command through the control socket (``asterisk -rx``); returns its output."""
        try:
            res = subprocess.run(self._cmd("-rx", command), stdin=subprocess.DEVNULL,
                                 capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AsteriskError(f"asterisk {self.name}: CLI {command!r} timed out") from None
        if res.returncode != 0 or "Unable to connect to remote asterisk" in res.stdout:
            raise AsteriskError(f"asterisk {self.name}: CLI {command!r} failed "
                                f"(exit {res.returncode}): {res.stdout}{res.stderr}")
        return res.stdout

    def reload(self, module: str) -> str:
        """Reload one module after ``write_file`` (e.g. "res_pjsip.so", "pbx_config", "app_queue")."""
        name = module if module.endswith(".so") else f"{module}.so"
        out = self.cli(f"module reload {name}")
        if "not found" in out.lower() or "fail" in out.lower():
            raise AsteriskError(f"asterisk {self.name}: reload {name}: {out}")
        return out

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, wait; SIGKILL after ``timeout`` s. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.host_path(self.ctl).unlink(missing_ok=True)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
        self.host_path(self.ctl).unlink(missing_ok=True)

    def remove(self) -> None:
        """Stop and delete the instance folder."""
        self.kill() if self.running else None
        shutil.rmtree(self.host_dir, ignore_errors=True)
        if self.rtp is not None:
            ports.release(self.rtp)

    # --- context managers ----------------------------------------------------------------
    def __enter__(self) -> AsteriskInstance:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def astart(self) -> AsteriskInstance:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> int | None:
        return await asyncio.to_thread(self.stop)

    async def acli(self, command: str, timeout: float = 15.0) -> str:
        return await asyncio.to_thread(self.cli, command, timeout)

    async def __aenter__(self) -> AsteriskInstance:
        return await self.astart()

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.astop()

    def __repr__(self) -> str:
        return f"<AsteriskInstance {self.name} {self.instance_dir} pid={self.pid}>"


__all__ = ["AsteriskError", "AsteriskInstance", "BASE_MODULES", "modules_conf", "provision"]
