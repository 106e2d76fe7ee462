"""Run sipp (SIPp 3.6) scenarios as asyncio child processes against a lab Asterisk.

Scenarios live in ``ivr/lab/scenarios/``. Two kinds of parameters:
  * ``[name]`` in message text: sipp ``-key`` values (substituted by sipp itself);
  * ``@name@`` in attributes (timeouts, assign values): substituted here when the scenario is
    rendered into the run folder, because sipp 3.6 does not substitute keys there.
Both come from the same ``keys`` mapping, merged over ``SCENARIO_DEFAULTS``.

    uas = Sipp("uas_answer", port=phone_port, workdir=tmp / "uas")
    await uas.start()
    uac = Sipp("uac_call", remote=("127.0.0.1", sip_port), local_ip="127.0.0.2",
               service="100", keys={"hold_ms": 500}, workdir=tmp / "uac")
    res = await uac.run()
    assert res.ok, res.summary()
    assert "INVITE sip:" in (await uas.wait()).messages
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from ivr.lab import ports

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SILENCE_NAME = "silence.ul"

SCENARIO_DEFAULTS: dict[str, dict[str, str]] = {
    "uac_call": {"caller": "13800000000", "caller_name": "citizen", "hold_ms": "1000",
                 "play": "0", "audio": ""},
    "uac_expect_fail": {"caller": "13800000000", "caller_name": "citizen"},
    "uac_abandon": {"caller": "13800000000", "caller_name": "citizen", "ring_ms": "1000"},
    "uas_answer": {"answer_ms": "1", "hold_ms": "3600000"},
    "uas_answer_check": {"answer_ms": "1", "hold_ms": "3600000", "from_re": ".*",
                         "official_re": ".*"},
    "uas_busy": {},
    "uas_noanswer": {},
    "register": {"user": "phone", "expires": "3600"},
}
_MS_KEYS = {"hold_ms", "answer_ms", "ring_ms"}  # 0 would mean "no timeout" to sipp


class SippError(RuntimeError):
    pass


def sipp_binary() -> str:
    exe = shutil.which("sipp")
    if not exe:
        raise SippError("sipp is not installed (apt-get install sip-tester); "
                        "./scripts/run-tests.sh installs it when run as root")
    return exe


@dataclass
class SippResult:
    name: str
    exit_code: int
    successful: int
    failed: int
    messages: str  # every SIP message sent and received (-trace_msg)
    errors: str  # unexpected messages (-trace_err)
    output: str  # sipp's stdout/stderr (final screen)
    workdir: Path
    duration: float
    stats: dict[str, str] = field(default_factory=dict)  # last row of the -trace_stat CSV

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.failed == 0 and self.successful > 0

    def received(self, first_line: str = "") -> list[str]:
        """Messages sipp received whose first line starts with ``first_line``
        (e.g. "INVITE", "SIP/2.0 486")."""
        out = []
        for block in re.split(r"(?m)^-{10,} [^\n]*\n", self.messages.replace("\r\n", "\n")):
            head, _, body = block.partition("\n")
            if "message received" not in head:
                continue
            msg = body.lstrip("\n")
            if msg.startswith(first_line):
                out.append(msg)
        return out

    def response_codes(self) -> list[int]:
        return [int(m.group(1)) for m in (re.match(r"SIP/2\.0 (\d{3})", r)
                                          for r in self.received("SIP/2.0")) if m]

    def header(self, message: str, name: str) -> str | None:
        m = re.search(rf"^{re.escape(name)}\s*:\s*(.*?)\s*$", message, re.M | re.I)
        return m.group(1) if m else None

    def summary(self) -> str:
        return (f"sipp {self.name}: exit {self.exit_code}, {self.successful} ok, {self.failed} "
                f"failed ({self.workdir})\n{self.output[-1500:]}\n--- errors ---\n"
                f"{self.errors[-3000:]}")


def render_scenario(name_or_path: str | Path, keys: Mapping[str, str], dest: Path) -> Path:
    src = Path(name_or_path) if str(name_or_path).endswith(".xml") else SCENARIOS / f"{name_or_path}.xml"
    text = re.sub(r"<!--.*?-->", "", src.read_text(encoding="latin-1"), flags=re.S)
    missing = sorted({m for m in re.findall(r"@([A-Za-z_][A-Za-z0-9_]*)@", text) if m not in keys})
    if missing:
        raise SippError(f"{src.name}: no value for {', '.join('@' + m + '@' for m in missing)}")
    text = re.sub(r"@([A-Za-z_][A-Za-z0-9_]*)@",
                  lambda m: escape(str(keys[m.group(1)]), {'"': "&quot;"}), text)
    dest.write_text(text, encoding="latin-1")
    return dest


class Sipp:
    """One sipp process. ``start()`` returns once its SIP port is bound; ``wait()`` collects."""

    def __init__(self, scenario: str | Path, *, workdir: Path, remote: tuple[str, int] | None = None,
                 local_ip: str = "127.0.0.1", port: int | None = None, media_port: int | None = None,
                 service: str | None = None, calls: int = 1, rate: float | None = None,
                 rate_period_ms: int | None = None, limit: int | None = None, timeout: float = 30.0,
                 keys: Mapping[str, object] | None = None, auth: tuple[str, str] | None = None,
                 extra_args: Sequence[str] = ()) -> None:
        self.scenario = scenario  # a name in ivr/lab/scenarios or a path to an .xml file
        self.scenario_name = Path(str(scenario)).stem
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.remote = remote
        self.local_ip = local_ip
        self.port = port or ports.free_port(local_ip)
        self.media = ports.free_block(4, local_ip) if media_port is None else None
        self.media_port = media_port if media_port is not None else self.media.start  # type: ignore[union-attr]
        self.service = service
        self.calls = calls
        self.rate = rate
        self.rate_period_ms = rate_period_ms
        self.limit = limit
        self.timeout = timeout
        merged = dict(SCENARIO_DEFAULTS.get(self.scenario_name, {}))
        merged.update({k: str(v) for k, v in (keys or {}).items()})
        for k in _MS_KEYS & merged.keys():
            merged[k] = str(max(1, int(float(merged[k]))))
        if "audio" in merged and not merged["audio"]:
            merged["audio"] = str(self._silence())
        self.keys = merged
        self.auth = auth
        self.extra_args = list(extra_args)
        self.proc: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self._result: SippResult | None = None
        self._out = self.workdir / "sipp.out"

    def _silence(self) -> Path:
        p = self.workdir / SILENCE_NAME
        p.write_bytes(b"\xff" * 1600)  # 200 ms of u-law silence
        return p

    def command(self) -> list[str]:
        sf = render_scenario(self.scenario, self.keys, self.workdir / f"{self.scenario_name}.xml")
        w = self.workdir
        cmd = [sipp_binary(), "-sf", str(sf)]
        if self.remote:
            cmd.append(f"{self.remote[0]}:{self.remote[1]}")
        cmd += ["-i", self.local_ip, "-bind_local", "-p", str(self.port),
                "-mi", self.local_ip, "-mp", str(self.media_port),
                "-m", str(self.calls), "-timeout", f"{self.timeout}s", "-timeout_error",
                "-nostdin", "-aa",
                "-trace_msg", "-message_file", str(w / "messages.log"),
                "-trace_err", "-error_file", str(w / "errors.log"),
                "-trace_stat", "-stf", str(w / "stat.csv"), "-fd", "1",
                "-trace_screen", "-screen_file", str(w / "screen.log")]
        if self.service:
            cmd += ["-s", self.service]
        if self.rate is not None:
            cmd += ["-r", f"{self.rate:g}"]
        if self.rate_period_ms is not None:
            cmd += ["-rp", str(self.rate_period_ms)]
        if self.limit is not None:
            cmd += ["-l", str(self.limit)]
        if self.auth:
            cmd += ["-au", self.auth[0], "-ap", self.auth[1]]
        for k, v in self.keys.items():
            cmd += ["-key", k, v]
        return cmd + self.extra_args

    async def start(self, ready_timeout: float = 5.0) -> Sipp:
        cmd = self.command()
        (self.workdir / "command.txt").write_text(" ".join(cmd) + "\n")
        out = open(self._out, "wb")
        try:
            self.started_at = time.monotonic()
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, cwd=self.workdir, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=asyncio.subprocess.STDOUT)
        finally:
            out.close()
        deadline = time.monotonic() + ready_timeout
        while not _udp_bound(self.local_ip, self.port):
            if self.proc.returncode is not None:
                break  # exited (e.g. scenario error): wait() reports it
            if time.monotonic() > deadline:
                await self.stop()
                raise SippError(f"sipp {self.scenario_name} did not bind {self.local_ip}:{self.port}"
                                f"\n{_read(self._out)[-2000:]}")
            await asyncio.sleep(0.01)
        return self

    async def wait(self, timeout: float | None = None) -> SippResult:
        if self._result is not None:
            return self._result
        if self.proc is None:
            raise SippError("sipp was not started")
        limit = timeout if timeout is not None else self.timeout + 15
        try:
            await asyncio.wait_for(self.proc.wait(), limit)
        except TimeoutError:
            await self.stop()
        self._result = self._collect()
        return self._result

    async def run(self) -> SippResult:
        await self.start()
        return await self.wait()

    async def stop(self) -> None:
        """Ask sipp to quit (SIGUSR1 = soft quit), then SIGTERM/SIGKILL."""
        p = self.proc
        if p is None or p.returncode is not None:
            return
        for sig, grace in ((signal.SIGUSR1, 3.0), (signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(sig)
            try:
                await asyncio.wait_for(p.wait(), grace)
                return
            except TimeoutError:
                continue

    def _collect(self) -> SippResult:
        assert self.proc is not None
        w = self.workdir
        stats = _last_stat_row(_read(w / "stat.csv"))
        screen = _read(w / "screen.log")
        ok = _count(stats, "SuccessfulCall(C)", screen, "Successful call")
        bad = _count(stats, "FailedCall(C)", screen, "Failed call")
        code = self.proc.returncode if self.proc.returncode is not None else -1
        return SippResult(name=self.scenario_name, exit_code=code, successful=ok, failed=bad,
                          messages=_read(w / "messages.log"), errors=_read(w / "errors.log"),
                          output=(screen or _read(self._out)) + _read(self._out)[-2000:],
                          workdir=w, duration=time.monotonic() - self.started_at, stats=stats)

    async def __aenter__(self) -> Sipp:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _read(p: Path) -> str:
    try:
        return p.read_text(errors="replace")
    except OSError:
        return ""


def _udp_bound(host: str, port: int) -> bool:
    """Whether some socket is bound to UDP ``host:port`` (or the wildcard), read from the kernel.

    Never probes by binding: a probe that holds the port for an instant makes sipp's own bind
    fail with EADDRINUSE when the two meet (seen in CI under load: "Unable to bind main socket").
    """
    want = {f"{_hex_ip(host)}:{port:04X}", f"00000000:{port:04X}"}
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(len(f := line.split()) > 1 and f[1] in want for line in lines)


def _hex_ip(host: str) -> str:
    """``127.0.0.2`` as /proc/net/udp writes it (host byte order on little-endian: 0200007F)."""
    return socket.inet_aton(host)[::-1].hex().upper() if sys.byteorder == "little" \
        else socket.inet_aton(host).hex().upper()


def _last_stat_row(text: str) -> dict[str, str]:
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    rows = [r for r in rows if r]
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def _count(stats: Mapping[str, str], column: str, screen: str, label: str) -> int:
    with contextlib.suppress(KeyError, ValueError):
        return int(stats[column])
    m = re.findall(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    return int(m[-1]) if m else 0


__all__ = ["SCENARIOS", "SCENARIO_DEFAULTS", "Sipp", "SippError", "SippResult", "render_scenario",
           "sipp_binary"]
