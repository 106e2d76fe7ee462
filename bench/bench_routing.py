"""Routing benchmark: call set-up latency, failures and CPU of the controller path vs a static
dialplan baseline, on one real Asterisk.

    .venv/bin/python bench/bench_routing.py                 # 100/s, 300 up, ~1000 calls, 3 reps
    .venv/bin/python bench/bench_routing.py --quick         # smoke check: 20/s x 100 calls x 2 reps
    .venv/bin/python bench/bench_routing.py --rate 50 --calls 500 --hold 3 --reps 5 --json out.json

A benchmark, not a test: it prints figures next to the targets and never asserts on time.

Method (see bench/README.md):
  * one lab deployment (ivr.lab.deploy.create_lab): SQLite directory of --phones officials, each
    with one SIP phone played by its own sipp UAS that answers at once (200 OK, no ringing);
  * controller path: a sipp UAC at 127.0.0.2 (the carrier) calls the officials' published numbers:
    ivr-citizens -> ivr-route (Ringing, the route from the AstDB mirror) -> ivr-exec -> Dial(phone);
  * agi path (``--paths baseline,controller,agi``): the same with ``[agi] route_live`` (the global
    IVR_ROUTE_LIVE set to 1 for the run): FastAGI to the controller first, as before issue 16;
  * baseline: the same Asterisk, an extra endpoint identified by 127.0.0.3 whose context
    ``bench-static`` does ``Dial(PJSIP/<the same phone endpoint>,20)`` straight away;
  * the two paths are interleaved (baseline, controller, baseline, ...), --reps each;
  * set-up time per call = INVITE sent -> 200 OK received, both stamped with the system clock by
    sipp's gettimeofday action (sipp's own ms clock moves in 4 ms steps on these machines);
  * CPU: utime+stime deltas from /proc/<pid>/stat over each run, for the controller process and all
    its descendants, and for Asterisk; RSS sampled every 0.25 s (max reported).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.lab import ports  # noqa: E402
from ivr.lab.asterisk import provision  # noqa: E402
from ivr.lab.deploy import LabDeployment, create_lab  # noqa: E402
from ivr.lab.sipp import render_scenario, sipp_binary  # noqa: E402

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
CARRIER_IP = "127.0.0.2"  # identified as the carrier -> ivr-citizens (controller path)
BASELINE_IP = "127.0.0.3"  # identified as bench-static -> Dial straight away (baseline)
SAFE_IP = "127.0.0.4"  # bench-static-safe: the same, after the caller-ID work ivr's entry does
STATIC = {"baseline": (BASELINE_IP, "bench-static"), "safe": (SAFE_IP, "bench-static-safe")}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

PATHS: list[str] = ["baseline", "controller"]  # set from --paths; baseline first
TARGET_FAILED = 0
TARGET_ADDED_P99_MS = 2.0


# ---------------------------------------------------------------------------------------------
# the deployment

def directory_yaml(phone_ports: list[int]) -> str:
    lines = ["version: 1", "settings:", "  timezone: Asia/Shanghai",
             "  default_chain: [voicemail]", "pools:",
             "  - {name: main, strategy: leastrecent, max_wait: 8}", "officials:"]
    for i, port in enumerate(phone_ports, 1):
        lines += [f"  - slug: bench-{i}", f"    name: Bench {i}", "    title: Director",
                  "    department: Bench", f'    numbers: ["0558-555{9000 + i}"]',
                  f'    devices: [{{sip: o-bench{i}, static_contact: "sip:o-bench{i}@127.0.0.1:{port}"}}]',
                  "    mode: direct", "    chain: [voicemail]", "    ring_timeout: 20"]
    return "\n".join(lines) + "\n"


def numbers(n_phones: int) -> list[tuple[str, str]]:
    """(dialed national number, phone endpoint) of each official."""
    return [(f"0558555{9000 + i}", f"o-bench{i}") for i in range(1, n_phones + 1)]


BASELINE_EVENTS = [True]  # --bare-baseline: False
BASELINE_RINGING = [False]  # --baseline-ringing: the static dialplan sends 180 first, as ivr-route
BASELINE_PAD = [0]  # --baseline-pad N: N Set() priorities before the static Dial (a priority's cost)
BASELINE_PAD_APP = ["Set(BENCH_PAD{k}=x)"]  # --baseline-pad-app: what each of them does


def _mset_args(line: str) -> list[str]:
    """The arguments of one MSet(...) priority, split on the commas between them."""
    body = line[line.index("MSet(") + 5:line.rindex(")")]
    out, depth, quoted, cur = [], 0, False, ""
    for ch in body:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "({":
            depth += 1
        elif not quoted and ch in ")}":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [*out, cur]


def safe_callerid(name: str) -> list[str]:
    """The caller-ID work of ivr's entry and route, for the ``safe`` static dialplan: the caller
    fields of the entry patterns' prologue (render.CALLER_PROLOGUE; not the routing ones, the
    dialed number and the mirror's key) and of the route's MSet, read from the sources (so they
    cannot drift apart); the official's name written in."""
    from ivr.asterisk.render import CALLER_PROLOGUE
    route = (REPO / "ivr/asterisk/templates/extensions/route.tmpl").read_text(encoding="utf-8")
    line = next(ln for ln in route.splitlines() if ln.startswith("exten => s,1,MSet(CALLERID(all)="))
    keep = [a for a in _mset_args(line) if a.startswith(("CALLERID(", "IVR_CALLER=", "IVR_CALLER_RAW="))]
    keep = [a.replace("${CUT(IVR_NUM,^,9)}", name) for a in keep]
    first = [a for a in _mset_args(CALLER_PROLOGUE) if a.startswith(("IVR_CALLER=", "IVR_CALLER_RAW="))]
    return [f"MSet({','.join(first)})", f"MSet({','.join(keep)})"]


def baseline_config(n_phones: int) -> tuple[str, str]:
    """The static dialplans: Dial straight away; by default they emit the IVR_* CEL events the
    routing path emits for a direct call (so record keeping costs both paths the same and the
    CPU ratio is routing's own: issue 16, "Pinned"). ``bench-static-safe`` first does the
    caller-ID work ivr's entry does, so its IVR_CALL event carries the same safe caller fields
    (the same record for any caller ID); ``bench-static`` copies the caller ID as it came."""
    pjsip = "".join(f"\n{MARK}: a trunk identified by source address ---\n"
                    f"[{ctx}](ivr-media)\ncontext = {ctx}\n\n"
                    f"[{ctx}]\ntype = identify\nendpoint = {ctx}\nmatch = {ip}\n"
                    for ip, ctx in STATIC.values())
    ext = [f"\n{MARK}: Dial the official's phone straight away ---"]
    for path, (_, ctx) in STATIC.items():
        ext.append(f"[{ctx}]")
        ext += static_extensions(n_phones, path == "safe")
    return pjsip, "\n".join(ext) + "\n"


def static_extensions(n_phones: int, safe: bool) -> list[str]:
    ext = []
    for i, (num, ep) in enumerate(numbers(n_phones), 1):
        if not BASELINE_EVENTS[0]:
            ext.append(f"exten => {num},1,Dial(PJSIP/{ep},20)\n same => n,Hangup()")
            continue
        ring = " same => n,Ringing()\n" if BASELINE_RINGING[0] else ""
        apps = BASELINE_PAD_APP[0].split(" ;; ")
        ring += "".join(f" same => n,{apps[k % len(apps)].replace('{k}', str(k))}\n"
                        for k in range(BASELINE_PAD[0]))
        call = ("CELGenUserEvent(IVR_CALL,dialed=${EXTEN}\\;caller=${CALLERID(num)}"
                "\\;caller_raw=${CALLERID(num)})")
        if safe:
            first, second = safe_callerid(f"Bench {i}")
            call = (f"{first}\n same => n,{second}\n same => n,CELGenUserEvent(IVR_CALL,dialed="
                    "${EXTEN}\\;caller=${IVR_CALLER}\\;caller_raw=${IVR_CALLER_RAW})")
        ext.append(
            f"exten => {num},1,{call}\n"
            + ring +
            f" same => n,CELGenUserEvent(IVR_ROUTE,official={i}\\;src=static\\;mode=direct)\n"
            f" same => n,CELGenUserEvent(IVR_STEP,n=1\\;kind=direct\\;target=PJSIP/{ep})\n"
            f" same => n,Dial(PJSIP/{ep},20)\n"
            f" same => n,CELGenUserEvent(IVR_STEP_END,n=1\\;kind=direct\\;result=${{DIALSTATUS}})\n"
            " same => n,Hangup()")
    return ext


MARK = "; --- bench_routing baseline"


def ensure_baseline(lab: LabDeployment, n_phones: int) -> None:
    """Append the baseline sections to the live pjsip.conf / extensions.conf and reload, unless
    they are there. The controller renders pjsip.conf itself (after each AMI login and each
    directory change) and would drop them: this runs once the controller is ready and again
    before every run."""
    inst = lab.asterisk
    etc = inst.host_path(inst.etc_dir)
    pj, ext = baseline_config(n_phones)
    for fname, extra, module, probe, expect in (
            ("pjsip.conf", pj, "res_pjsip.so", "pjsip show endpoint bench-static-safe", SAFE_IP),
            ("extensions.conf", ext, "pbx_config.so", "dialplan show bench-static-safe",
             "Dial(PJSIP/o-bench1")):
        if expect in inst.cli(probe):
            continue
        text = (etc / fname).read_text(encoding="utf-8")
        if MARK not in text:
            inst.write_file(fname, text + extra)
        inst.cli(f"module reload {module}")
        deadline = time.monotonic() + 10
        while expect not in inst.cli(probe):
            if time.monotonic() > deadline:
                raise SystemExit(f"baseline {fname} sections did not load: {inst.cli(probe)}")
            time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# /proc accounting

def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, utime+stime ticks, rss pages) of ``pid``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    f = text[text.rindex(")") + 2:].split()
    # fields after the comm: state(0) ppid(1) ... utime(11) stime(12) ... rss(21)
    return int(f[1]), int(f[11]) + int(f[12]), int(f[21])


def process_tree(root: int) -> list[int]:
    """``root`` and all its living descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st:
                children.setdefault(st[0], []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


class TreeMeter:
    """CPU ticks and RSS of a process and its descendants (descendants re-scanned each sample)."""

    def __init__(self, name: str, pid: int) -> None:
        self.name, self.pid = name, pid
        self.pids = process_tree(pid)
        self.ticks: dict[int, int] = {}
        self.max_rss = 0

    def sample(self, rescan: bool = False) -> None:
        if rescan:
            self.pids = process_tree(self.pid)
        rss = 0
        for p in self.pids:
            st = _stat(p)
            if st is None:
                continue
            self.ticks[p] = st[1]  # last value seen (a process that exited keeps its last figure)
            rss += st[2] * PAGE
        self.max_rss = max(self.max_rss, rss)

    def cpu_seconds(self) -> float:
        return sum(self.ticks.values()) / CLK_TCK

    def reset_rss(self) -> None:
        self.max_rss = 0


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return sum(f) - idle, sum(f)


async def agi_probe(host: str, port: int, number: str, stop: asyncio.Event, out: list[float],
                    interval: float = 0.1) -> None:
    """Plays Asterisk's side of one FastAGI ``route`` request every ``interval`` s and times it
    (connect -> headers -> every SET VARIABLE answered -> connection closed by the controller)."""
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
            writer.write((f"agi_network: yes\nagi_network_script: route\nagi_request: "
                          f"agi://{host}:{port}/route\nagi_channel: PJSIP/probe-1\n"
                          f"agi_arg_1: {number}\n\n").encode())
            while True:
                line = await asyncio.wait_for(reader.readline(), 5)
                if not line:
                    break
                if line.startswith(b"SET VARIABLE"):
                    writer.write(b"200 result=1\n")
            out.append((time.perf_counter() - t0) * 1000)
            writer.close()
        except (TimeoutError, OSError):
            out.append(float("inf"))
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass


async def meter_loop(meters: list[TreeMeter], stop: asyncio.Event, interval: float = 0.25) -> None:
    n = 0
    while not stop.is_set():
        for m in meters:
            m.sample(rescan=(n % 8 == 0))
        n += 1
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass


# ---------------------------------------------------------------------------------------------
# sipp

async def start_uas(workdir: Path, port: int, tag: str) -> asyncio.subprocess.Process:
    workdir.mkdir(parents=True, exist_ok=True)
    media = ports.free_block(4)
    cmd = [sipp_binary(), "-sf", str(SCENARIOS / "uas_phone.xml"), "-i", "127.0.0.1",
           "-p", str(port), "-mi", "127.0.0.1", "-mp", str(media.start), "-nostdin",
           "-trace_stat", "-stf", str(workdir / "stat.csv"), "-fd", "1",
           "-trace_screen", "-screen_file", str(workdir / "screen.log")]
    (workdir / "command.txt").write_text(shlex.join(cmd) + "\n")
    out = open(workdir / "sipp.out", "wb")
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=workdir, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=out, stderr=asyncio.subprocess.STDOUT)
    out.close()
    return proc


def last_stat_row(path: Path) -> dict[str, str]:
    try:
        rows = [r.split(";") for r in path.read_text(errors="replace").splitlines() if r.strip()]
    except OSError:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) >= 2 else {}


@dataclass
class RunResult:
    path: str  # "baseline" or "controller"
    rep: int
    attempted: int = 0
    completed: int = 0
    failed: int = 0
    answered: int = 0  # calls whose 200 OK arrived (set-up time measured)
    setup_ms: list[float] = field(default_factory=list)
    p50: float = float("nan")
    p90: float = float("nan")
    p99: float = float("nan")
    max: float = float("nan")
    duration: float = 0.0
    sipp_exit: int = 0
    ctrl_cpu_s: float = 0.0
    ctrl_cpu_pct: float = 0.0
    ctrl_rss_mb: float = 0.0
    ast_cpu_s: float = 0.0
    ast_cpu_pct: float = 0.0
    ast_rss_mb: float = 0.0
    drain_s: float = 0.0  # time the controller needed after the run to ingest the run's events
    ctrl_drain_cpu_s: float = 0.0
    agi: dict[str, int] = field(default_factory=dict)  # FastAGI stats delta over the run
    events_ingested: int = 0
    machine_busy_pct: float = 0.0  # all CPUs busy, % of the machine (2 cores = 200 % of a core)
    probe_ms: list[float] = field(default_factory=list)  # FastAGI probe round trips (ms)
    probe_p50: float = float("nan")
    probe_p99: float = float("nan")
    probe_max: float = float("nan")
    ast_rss_after_mb: float = 0.0  # Asterisk RSS once the run's calls are gone
    ast_channels_after: str = ""


def percentile(sorted_vals: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_vals:
        return float("nan")
    k = (len(sorted_vals) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def parse_log(path: Path) -> tuple[int, int, list[float]]:
    invites: dict[str, float] = {}
    answers: dict[str, float] = {}
    ended = 0
    try:
        text = path.read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        f = line.split()
        if len(f) == 4 and f[0] in ("I", "A"):
            t = float(f[2]) + float(f[3]) / 1e6
            (invites if f[0] == "I" else answers)[f[1]] = t
        elif len(f) == 2 and f[0] == "E":
            ended += 1
    lat = sorted((answers[c] - invites[c]) * 1000.0 for c in answers if c in invites)
    return len(invites), ended, lat


async def run_uac(lab: LabDeployment, workdir: Path, path: str, rep: int, args: argparse.Namespace,
                  meters: dict[str, TreeMeter], src: str | None = None,
                  dialed: list[str] | None = None) -> RunResult:
    """One sipp UAC run. ``src``/``dialed`` override the source address and the numbers called
    (bench/experiments use them for dialplan variants); by default ``path`` picks them."""
    workdir.mkdir(parents=True, exist_ok=True)
    if src is None:
        src = STATIC[path][0] if path in STATIC else CARRIER_IP
    nums = numbers(args.phones)
    if dialed is None:
        dialed = [n for n, _ in nums]
    inf = workdir / "numbers.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"{n};\n" for n in dialed))
    sf = render_scenario(SCENARIOS / "uac_timed.xml", {"hold_ms": str(int(args.hold * 1000))},
                         workdir / "uac_timed.xml")
    media = ports.free_block(4, src)
    sip_host, sip_port = lab.sip
    limit = args.limit
    global_timeout = args.calls / args.rate + args.hold + 60
    cmd = [sipp_binary(), "-sf", str(sf), f"{sip_host}:{sip_port}", "-i", src, "-bind_local",
           "-p", str(ports.free_port(src)), "-mi", src, "-mp", str(media.start),
           "-m", str(args.calls), "-r", f"{args.rate:g}", "-l", str(limit),
           "-inf", str(inf), "-recv_timeout", "15000",
           "-timeout", f"{global_timeout:.0f}s", "-timeout_error", "-nostdin",
           "-trace_logs", "-log_file", str(workdir / "calls.log"),
           "-trace_err", "-error_file", str(workdir / "errors.log"),
           "-trace_stat", "-stf", str(workdir / "stat.csv"), "-fd", "1",
           "-trace_screen", "-screen_file", str(workdir / "screen.log")]
    (workdir / "command.txt").write_text(shlex.join(cmd) + "\n")

    await asyncio.to_thread(ensure_baseline, lab, args.phones)
    h0 = await lab_health(lab)
    for m in meters.values():
        m.sample(rescan=True)
        m.reset_rss()
    c0 = {k: m.cpu_seconds() for k, m in meters.items()}
    stop = asyncio.Event()
    sampler = asyncio.create_task(meter_loop(list(meters.values()), stop))
    probe_ms: list[float] = []
    probe = None
    hung = getattr(args, "hung", False) and path not in STATIC and lab.controller is not None
    dead = getattr(args, "dead", False) and path not in STATIC and lab.controller is not None
    if path == "agi" and args.probe > 0 and not (hung or dead):
        probe = asyncio.create_task(agi_probe(lab.config.agi.host, lab.config.agi.port, nums[0][0],
                                              stop, probe_ms, 1.0 / args.probe))
    if hung:  # the controller hung (SIGSTOP) for the whole run: what does a call pay for it?
        os.kill(lab.controller.pid, signal.SIGSTOP)  # type: ignore[union-attr]
    if dead:  # killed, as in a crash: the calls route from the mirror; records wait for its return
        await asyncio.to_thread(lab.signal_controller, signal.SIGKILL)
    m0 = machine_ticks()
    t0 = time.monotonic()
    out = open(workdir / "sipp.out", "wb")
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=workdir, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=out, stderr=asyncio.subprocess.STDOUT)
    out.close()
    try:
        code = await asyncio.wait_for(proc.wait(), global_timeout + 30)
    except TimeoutError:
        proc.send_signal(signal.SIGKILL)
        code = await proc.wait()
    if hung:
        os.kill(lab.controller.pid, signal.SIGCONT)  # type: ignore[union-attr]
    duration = time.monotonic() - t0
    m1 = machine_ticks()
    stop.set()
    await sampler
    if probe is not None:
        await probe
    for m in meters.values():
        m.sample()
    c1 = {k: m.cpu_seconds() for k, m in meters.items()}
    if dead:  # started again (the run is over): it catches up from the journal in the drain
        lab.start_controller()
        await lab.wait_ready()
        assert lab.controller is not None
        meters["controller"] = TreeMeter("controller", lab.controller.pid)
        h0 = {}  # a new process: its counters start at 0
    h1 = await lab_health(lab)

    # nothing of this run may reach into the next one: the recorder caught up, Asterisk quiet
    drain_cpu0 = meters["controller"].cpu_seconds()
    drain, last = await settle(lab, meters)
    meters["controller"].sample(rescan=True)
    drain_cpu = meters["controller"].cpu_seconds() - drain_cpu0

    attempted, ended, lat = parse_log(workdir / "calls.log")
    stats = last_stat_row(workdir / "stat.csv")
    failed = int(stats.get("FailedCall(C)", attempted - ended) or 0)
    r = RunResult(path=path, rep=rep, attempted=attempted, completed=ended,
                  failed=max(failed, attempted - ended), answered=len(lat), setup_ms=lat,
                  duration=duration, sipp_exit=code)
    if lat:
        r.p50, r.p90 = percentile(lat, 0.5), percentile(lat, 0.9)
        r.p99, r.max = percentile(lat, 0.99), lat[-1]
    r.ctrl_cpu_s = c1["controller"] - c0["controller"]
    r.ast_cpu_s = c1["asterisk"] - c0["asterisk"]
    r.ctrl_cpu_pct = 100 * r.ctrl_cpu_s / duration
    r.ast_cpu_pct = 100 * r.ast_cpu_s / duration
    r.ctrl_rss_mb = meters["controller"].max_rss / 2**20
    r.ast_rss_mb = meters["asterisk"].max_rss / 2**20
    r.drain_s, r.ctrl_drain_cpu_s = drain, drain_cpu
    a0, a1 = h0.get("agi", {}), h1.get("agi", {})
    r.agi = {k: a1.get(k, 0) - a0.get(k, 0) for k in a1}
    r.events_ingested = last - recorder_events(h0)
    r.machine_busy_pct = 100 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
    if probe_ms:
        pm = sorted(probe_ms)
        r.probe_ms = pm
        r.probe_p50, r.probe_p99, r.probe_max = percentile(pm, 0.5), percentile(pm, 0.99), pm[-1]
    meters["asterisk"].reset_rss()
    meters["asterisk"].sample()
    r.ast_rss_after_mb = meters["asterisk"].max_rss / 2**20
    try:
        out_cli = await asyncio.to_thread(lab.asterisk.cli, "core show channels count")
        r.ast_channels_after = " ".join(out_cli.split())
    except Exception as exc:  # noqa: BLE001
        r.ast_channels_after = f"? {exc}"
    return r


async def lab_health(lab: LabDeployment) -> dict[str, Any]:
    return (await asyncio.to_thread(lab.health)) or {}


def recorder_events(health: dict[str, Any]) -> int:
    """CEL events the controller's recorder has stored (/healthz)."""
    return int((health.get("recorder") or {}).get("events", 0))


def active_channels(lab: LabDeployment) -> int:
    """Asterisk's channels now (-1: could not ask)."""
    try:
        out = lab.asterisk.cli("core show channels count")
    except Exception:  # noqa: BLE001
        return -1
    for line in out.splitlines():
        if line.strip().endswith("active channels"):
            return int(line.split()[0])
    return -1


async def settle(lab: LabDeployment, meters: dict[str, TreeMeter], limit: float = 180.0,
                 idle: float = 0.15) -> tuple[float, int]:
    """Until a run has left nothing behind for the next one: the recorder's counters (events,
    records) still for 2 s, Asterisk without a channel, and Asterisk and the controller each
    under ``idle`` of a core for a second. A saturated run leaves Asterisk working through its
    backlog for many seconds, and the recorder folding the run's events: started on top of that,
    the next run (the next path at the same rate) would pay for them. Returns the seconds the
    recorder kept storing events, and its event count then."""
    t0 = time.monotonic()
    last: tuple[int, int] | None = None
    changed = t0
    while time.monotonic() - t0 < limit:
        h = await lab_health(lab)
        rec = h.get("recorder") or {}
        now = time.monotonic()
        cur = (int(rec.get("events", 0)), int(rec.get("records", 0)))
        if cur != last:
            last, changed = cur, now
        for m in meters.values():
            m.sample(rescan=True)
        c0 = {k: m.cpu_seconds() for k, m in meters.items()}
        await asyncio.sleep(1.0)
        for m in meters.values():
            m.sample()
        busy = max(meters[k].cpu_seconds() - c0[k] for k in ("asterisk", "controller"))
        if time.monotonic() - changed >= 2.0 and busy < idle \
                and await asyncio.to_thread(active_channels, lab) == 0:
            break
    else:
        print(f"  (not settled after {limit:g} s: going on)", flush=True)
    return changed - t0, last[0] if last else 0


# ---------------------------------------------------------------------------------------------
# report

def fmt(v: float, nd: int = 2) -> str:
    return "-" if v != v else f"{v:.{nd}f}"


def spread(vals: list[float]) -> tuple[float, float, float]:
    vals = [v for v in vals if v == v]
    if not vals:
        return (float("nan"),) * 3  # type: ignore[return-value]
    return min(vals), statistics.median(vals), max(vals)


def report(results: list[RunResult], args: argparse.Namespace, meta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    L: list[str] = []
    L.append("")
    L.append("Per run (set-up time = INVITE sent -> 200 OK received, ms; CPU = % of one core "
             "over the run; RSS = max MiB)")
    hdr = (f"{'run':<14}{'att':>6}{'ok':>6}{'fail':>5}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}"
           f"{'secs':>7}{'ctl%':>7}{'ctlMB':>7}{'ast%':>7}{'astMB':>7}{'agi ok/to/err':>15}"
           f"{'drain s':>9}{'host%':>7}{'probe p50/p99/max':>20}")
    L.append(hdr)
    L.append("-" * len(hdr))
    for r in results:
        agi = "-" if r.path in STATIC else (f"{r.agi.get('answered', 0)}/{r.agi.get('timeouts', 0)}"
                                                f"/{r.agi.get('errors', 0)}")
        L.append(f"{r.path + ' #' + str(r.rep):<14}{r.attempted:>6}{r.completed:>6}{r.failed:>5}"
                 f"{fmt(r.p50):>8}{fmt(r.p90):>8}{fmt(r.p99):>8}{fmt(r.max):>8}{r.duration:>7.1f}"
                 f"{r.ctrl_cpu_pct:>7.1f}{r.ctrl_rss_mb:>7.1f}{r.ast_cpu_pct:>7.1f}"
                 f"{r.ast_rss_mb:>7.1f}{agi:>15}{r.drain_s:>9.1f}{r.machine_busy_pct:>7.0f}"
                 f"{('-' if not r.probe_ms else fmt(r.probe_p50) + '/' + fmt(r.probe_p99) + '/' + fmt(r.probe_max, 0)):>20}")
    summary: dict[str, Any] = {}
    L.append("")
    L.append("Per path (spread over runs: min / median / max)")
    hdr2 = (f"{'path':<11}{'calls att/ok/fail':>20}{'p50 min/med/max':>22}{'p99 min/med/max':>22}"
            f"{'pooled p50':>11}{'pooled p99':>11}{'ctl CPU%':>9}{'ast CPU%':>9}{'ctl RSS':>8}"
            f"{'ast RSS':>8}")
    L.append(hdr2)
    L.append("-" * len(hdr2))
    for path in PATHS:
        rs = [r for r in results if r.path == path]
        if not rs:
            continue
        pooled = sorted(x for r in rs for x in r.setup_ms)
        s = {
            "attempted": sum(r.attempted for r in rs), "completed": sum(r.completed for r in rs),
            "failed": sum(r.failed for r in rs),
            "p50_spread": spread([r.p50 for r in rs]), "p99_spread": spread([r.p99 for r in rs]),
            "pooled_p50": percentile(pooled, 0.5), "pooled_p99": percentile(pooled, 0.99),
            "ctrl_cpu_pct_median": statistics.median(r.ctrl_cpu_pct for r in rs),
            "ast_cpu_pct_median": statistics.median(r.ast_cpu_pct for r in rs),
            "ctrl_rss_mb_max": max(r.ctrl_rss_mb for r in rs),
            "ast_rss_mb_max": max(r.ast_rss_mb for r in rs),
            # CPU seconds per call attempted, the controller (all its processes) + Asterisk
            "cpu_ms_per_call_median": statistics.median(
                1000 * (r.ctrl_cpu_s + r.ast_cpu_s) / max(1, r.attempted) for r in rs),
        }
        summary[path] = s
        p50s = "/".join(fmt(v) for v in s["p50_spread"])
        p99s = "/".join(fmt(v) for v in s["p99_spread"])
        L.append(f"{path:<11}{str(s['attempted']) + '/' + str(s['completed']) + '/' + str(s['failed']):>20}"
                 f"{p50s:>22}{p99s:>22}{fmt(s['pooled_p50']):>11}{fmt(s['pooled_p99']):>11}"
                 f"{s['ctrl_cpu_pct_median']:>9.1f}{s['ast_cpu_pct_median']:>9.1f}"
                 f"{s['ctrl_rss_mb_max']:>8.1f}{s['ast_rss_mb_max']:>8.1f}")
    for ref in [p for p in PATHS if p in STATIC and p in summary]:
        L.append("")
        L.append(f"Ratios to the static dialplan '{ref}' (issue 16 targets: p50 <= 1.15, p99 <= 1.3, "
                 f"CPU per call <= 1.2); per interleaved pair (path run / {ref} run of the same round)")
        base_runs = [r for r in results if r.path == ref]
        for path in PATHS[PATHS.index(ref) + 1:]:
            runs = [r for r in results if r.path == path]
            if not runs:
                continue
            pairs = list(zip(base_runs, runs, strict=False))
            r50 = [cr.p50 / br.p50 for br, cr in pairs]
            r99 = [cr.p99 / br.p99 for br, cr in pairs]
            rcpu = [((cr.ctrl_cpu_s + cr.ast_cpu_s) / max(1, cr.attempted))
                    / max(1e-9, (br.ctrl_cpu_s + br.ast_cpu_s) / max(1, br.attempted)) for br, cr in pairs]
            # Asterisk alone (the routing itself; the controller's part is mostly record keeping,
            # the same events on both paths: issue 16, "Pinned")
            rast = [(cr.ast_cpu_s / max(1, cr.attempted)) / max(1e-9, br.ast_cpu_s / max(1, br.attempted))
                    for br, cr in pairs]
            summary.setdefault("ratios" if ref == "baseline" else f"ratios_to_{ref}", {})[path] = {
                "p50": r50, "p99": r99, "cpu_per_call": rcpu, "asterisk_cpu_per_call": rast}

            def sp(v: list[float]) -> str:
                lo, med, hi = spread(v)
                return f"{med:.2f} ({lo:.2f}-{hi:.2f})"
            L.append(f"  {path:<11} p50 {sp(r50)}, p99 {sp(r99)}, CPU/call {sp(rcpu)}, Asterisk "
                     f"CPU/call {sp(rast)}   [median (min-max) of {len(pairs)} pairs]")
    if "baseline" in summary and "controller" in summary:
        b, c = summary["baseline"], summary["controller"]
        added = {
            "p50_median_of_runs": c["p50_spread"][1] - b["p50_spread"][1],
            "p99_median_of_runs": c["p99_spread"][1] - b["p99_spread"][1],
            "p50_pooled": c["pooled_p50"] - b["pooled_p50"],
            "p99_pooled": c["pooled_p99"] - b["pooled_p99"],
            # pairwise: each controller run against the baseline run just before it
            "p50_pairs": [cr.p50 - br.p50 for br, cr in zip(
                [r for r in results if r.path == "baseline"], [r for r in results if r.path == "controller"], strict=False)],
            "p99_pairs": [cr.p99 - br.p99 for br, cr in zip(
                [r for r in results if r.path == "baseline"], [r for r in results if r.path == "controller"], strict=False)],
        }
        summary["added_ms"] = added
        L.append("")
        L.append("Added set-up latency, controller - baseline (ms)")
        L.append(f"  p50: {fmt(added['p50_median_of_runs'])} (median of runs), "
                 f"{fmt(added['p50_pooled'])} (pooled); per pair: "
                 + ", ".join(fmt(v) for v in added["p50_pairs"]))
        L.append(f"  p99: {fmt(added['p99_median_of_runs'])} (median of runs), "
                 f"{fmt(added['p99_pooled'])} (pooled); per pair: "
                 + ", ".join(fmt(v) for v in added["p99_pairs"]))
        L.append("")
        L.append("Targets")

        def verdict(ok: bool) -> str:
            return "MET" if ok else "MISSED"
        fb, fc = b["failed"], c["failed"]
        L.append(f"  zero failed calls at {args.rate:g}/s with {args.limit} up: baseline {fb} failed, "
                 f"controller {fc} failed -> {verdict(fc == TARGET_FAILED)}"
                 + ("" if fb == 0 else "  (baseline failed too: the load generator or Asterisk is "
                                       "the limit, not the controller)"))
        worst = max(added["p99_median_of_runs"], added["p99_pooled"])
        L.append(f"  added set-up latency p99 <= {TARGET_ADDED_P99_MS:g} ms: "
                 f"{fmt(added['p99_median_of_runs'])} ms (median of runs), "
                 f"{fmt(added['p99_pooled'])} ms (pooled) -> "
                 f"{verdict(worst == worst and worst <= TARGET_ADDED_P99_MS)}")
        cc, ca = c["ctrl_cpu_pct_median"], c["ast_cpu_pct_median"]
        L.append(f"  controller CPU below Asterisk's (controller-path runs): controller {cc:.1f} % vs "
                 f"Asterisk {ca:.1f} % of a core -> {verdict(cc < ca)}")
        summary["targets"] = {"zero_failed": fc == 0, "added_p99_le_2ms": worst <= TARGET_ADDED_P99_MS,
                              "controller_cpu_below_asterisk": cc < ca}
    L.append("")
    L.append("ctl%/ast% = controller (all its processes) / Asterisk CPU, % of one core; host% = all "
             "CPUs busy, % of the whole machine; drain = seconds the controller kept ingesting the "
             "run's CEL events after its last call ended; probe = a FastAGI route request played "
             "against the controller during controller runs, round trip in ms.")
    L.append("Asterisk after each run (RSS MiB; channels): " + "; ".join(
        f"{r.path[0]}{r.rep} {r.ast_rss_after_mb:.0f} ({r.ast_channels_after})" for r in results))
    text = "\n".join(L)
    doc = {"meta": meta, "runs": [{k: v for k, v in asdict(r).items() if k not in ("setup_ms", "probe_ms")}
                                  for r in results], "summary": summary}
    return text, doc


# ---------------------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def bench_lab(name: str, phones: int, limit: int, verbose: int = 0, *,
                    disable_events: str = "", keep: bool = False
                    ) -> AsyncIterator[tuple[LabDeployment, dict[str, TreeMeter], Path]]:
    """One lab for a bench: Asterisk (RTP ports for ``limit`` calls up at once, ``verbose`` as in
    production), ``phones`` sipp UAS phones, the controller ready, the static dialplan loaded;
    the meters of both processes; the work folder. Everything is stopped and removed after
    (``keep``: the work folder stays). ``disable_events``: an experiment's manager.conf
    ``disabledevents`` line, added before the controller starts."""
    root = provision()
    work = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    phone_ports = ports.free_ports(phones)
    lab = await create_lab(root, work / "lab", directory_yaml(phone_ports), name=name,
                           start_asterisk=False)
    uas: list[asyncio.subprocess.Process] = []
    try:
        inst = lab.asterisk
        rtp = ports.rtp_range(2 * (4 * limit + 100))
        inst.write_file("rtp.conf", f"[general]\nrtpstart = {rtp.start}\nrtpend = {rtp.end}\n")
        # asterisk.conf's verbose, as in production (0): `core set verbose` from a remote console
        # sets only that console's level, and with the lab's verbose = 3 Asterisk formats a log
        # line for every priority (bench/experiments/FINDINGS-mirror.md)
        inst.verbose = verbose
        await asyncio.to_thread(inst.start)
        for i, port in enumerate(phone_ports, 1):
            uas.append(await start_uas(work / f"uas-{i}", port, f"o-bench{i}"))
        if disable_events:
            text = inst.host_path(inst.etc_dir / "manager.conf").read_text(encoding="utf-8")
            inst.write_file("manager.conf", text.replace(
                "[general]\n", f"[general]\ndisabledevents = {disable_events}\n", 1))
            await asyncio.to_thread(inst.cli, "manager reload")
        lab.start_controller()
        await lab.wait_ready()
        await asyncio.to_thread(ensure_baseline, lab, phones)
        assert lab.controller is not None and inst.pid is not None
        meters = {"controller": TreeMeter("controller", lab.controller.pid),
                  "asterisk": TreeMeter("asterisk", inst.pid)}
        yield lab, meters, work
    finally:
        for p in uas:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(p.wait(), 5)
                except TimeoutError:
                    p.kill()
                    await p.wait()
        await asyncio.to_thread(lab.close)
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(lab.asterisk.host_dir, ignore_errors=True)


async def route_live(lab: LabDeployment, path: str) -> None:
    """The agi path asks the controller first (IVR_ROUTE_LIVE=1, the route reading num-live/…,
    which holds nothing); the others route from the mirror."""
    live = path == "agi"
    await asyncio.to_thread(lab.asterisk.cli, f"dialplan set global IVR_ROUTE_LIVE {int(live)}")
    await asyncio.to_thread(lab.asterisk.cli,
                            f"dialplan set global IVR_NUM_KEYS {'num-live' if live else 'num'}")


async def warm_up(lab: LabDeployment, work: Path, args: argparse.Namespace,
                  meters: dict[str, TreeMeter]) -> int:
    """A few calls down each path: proves both are wired before anything is measured; how many
    calls it placed."""
    placed = 0
    wargs = argparse.Namespace(**{**vars(args), "calls": 2 * args.phones, "rate": 10.0,
                                  "limit": 10, "hold": 0.2, "dead": False, "hung": False})
    for path in PATHS:
        await route_live(lab, path)
        r = await run_uac(lab, work / f"warmup-{path}", path, 0, wargs, meters)
        if r.completed != r.attempted or r.attempted == 0:
            raise SystemExit(f"warm-up on the {path} path failed: {r.completed}/{r.attempted} calls "
                             f"completed; see {work / f'warmup-{path}'}")
        placed += r.attempted
    return placed


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=100.0, help="call attempts per second (100)")
    ap.add_argument("--calls", type=int, default=1000, help="calls per run (1000)")
    ap.add_argument("--hold", type=float, default=3.0, help="seconds each call is held (3)")
    ap.add_argument("--limit", type=int, default=None,
                    help="max calls up at once (default: rate x hold, i.e. 300)")
    ap.add_argument("--reps", type=int, default=3, help="runs per path, interleaved (3)")
    ap.add_argument("--phones", type=int, default=4, help="officials / sipp UAS phones (4)")
    ap.add_argument("--quick", action="store_true", help="smoke check: 20/s x 100 calls x 2 reps")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument("--probe", type=float, default=10.0,
                    help="FastAGI probe requests per second during agi runs (0: off)")
    ap.add_argument("--bare-baseline", action="store_true",
                    help="the baseline emits no IVR_* CEL events (before issue 16's comparison)")
    ap.add_argument("--baseline-ringing", action="store_true",
                    help="the baseline sends 180 Ringing first, as ivr-route does (its cost apart)")
    ap.add_argument("--baseline-pad", type=int, default=0,
                    help="experiment: N Set() priorities before the static Dial (a priority's cost)")
    ap.add_argument("--baseline-pad-app", default="Set(BENCH_PAD{k}=x)",
                    help="experiment: the application of each --baseline-pad priority ({k}: its index; several separated by ' ;; ' are taken in turn)")
    ap.add_argument("--ami-disable", default="",
                    help="experiment: manager.conf disabledevents for the run (e.g. Newexten,VarSet)")
    ap.add_argument("--dead", action="store_true",
                    help="SIGKILL the controller before every routed (not static) run, start it after "
                         "(a dead controller; its records are caught up in the drain)")
    ap.add_argument("--hung", action="store_true",
                    help="SIGSTOP the controller during every routed (not static) run (a hung controller)")
    ap.add_argument("--paths", default="baseline,controller",
                    help="paths interleaved, baseline first: baseline[,safe],controller[,agi] (safe: "
                         "the static dialplan after ivr's caller-ID work; agi: [agi] route_live, "
                         "FastAGI before the mirror)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--asterisk-verbose", type=int, default=0,
                    help="asterisk.conf verbose (0, as in production: no per-priority log lines)")
    args = ap.parse_args()
    PATHS[:] = [p for p in args.paths.split(",") if p in ("baseline", "safe", "controller", "agi")]
    BASELINE_EVENTS[0] = not args.bare_baseline
    BASELINE_RINGING[0] = args.baseline_ringing
    BASELINE_PAD[0] = args.baseline_pad
    BASELINE_PAD_APP[0] = args.baseline_pad_app
    if args.quick:
        args.rate, args.calls, args.reps = 20.0, 100, 2
    if args.limit is None:
        args.limit = max(1, round(args.rate * args.hold))

    cmdline = shlex.join([sys.executable, *sys.argv])
    print(f"$ {cmdline}")
    print(f"host {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"{args.rate:g} calls/s, {args.calls} calls per run, hold {args.hold:g} s, "
          f"<= {args.limit} up, {args.reps} runs per path (interleaved), {args.phones} phones",
          flush=True)

    results: list[RunResult] = []
    async with bench_lab("bench-routing", args.phones, args.limit, args.asterisk_verbose,
                         disable_events=args.ami_disable, keep=args.keep) as (lab, meters, work):
        inst = lab.asterisk
        h = await lab_health(lab)
        assert lab.controller is not None
        print(f"Asterisk pid {inst.pid} (booted in {inst.boot_seconds:.2f} s), controller pid "
              f"{lab.controller.pid}, {h.get('officials')} officials; work folder {work}", flush=True)
        warm_calls = await warm_up(lab, work, args, meters)
        for rep in range(1, args.reps + 1):
            for path in PATHS:
                await route_live(lab, path)
                r = await run_uac(lab, work / f"{path}-{rep}", path, rep, args, meters)
                results.append(r)
                print(f"  {path:<10} #{rep}: {r.completed}/{r.attempted} ok, {r.failed} failed, "
                      f"p50 {fmt(r.p50)} ms, p99 {fmt(r.p99)} ms, controller {r.ctrl_cpu_pct:.1f} %, "
                      f"Asterisk {r.ast_cpu_pct:.1f} % CPU, drain {r.drain_s:.1f} s", flush=True)
        # evidence on how the controller path was routed
        routed: dict[str, int] = {}
        recorded = -1
        try:
            con = sqlite3.connect(work / "lab" / "ivr.db")
            routed = dict(con.execute("select coalesce(route_source,'?'), count(*) from calls "
                                      "group by 1").fetchall())
            recorded = con.execute("select count(*) from calls").fetchone()[0]
            con.close()
        except sqlite3.Error:
            pass
        uas_failed = 0
        for i in range(1, args.phones + 1):
            st = last_stat_row(work / f"uas-{i}" / "stat.csv")
            uas_failed += int(st.get("FailedCall(C)", 0) or 0)
        log = lab.controller_log()
        meta = {"command": cmdline, "rate": args.rate, "calls": args.calls, "hold": args.hold,
                "limit": args.limit, "reps": args.reps, "phones": args.phones,
                "cpus": os.cpu_count(), "work": str(work),
                "call_records_by_route_source": routed, "call_records": recorded,
                "calls_attempted_incl_warmup": sum(r.attempted for r in results) + warm_calls,
                "controller_log_agi_slow_warnings": log.count("FastAGI answer took longer"),
                "asterisk_log_mirror_fallbacks": inst.log_text().count("controller did not answer"),
                "uas_failed_calls": uas_failed}
        text, doc = report(results, args, meta)
        print(text)
        print("")
        print(f"Call records: {recorded} for {meta['calls_attempted_incl_warmup']} calls placed "
              "(both paths, warm-up included)")
        print(f"Controller-path call records by route source: {routed or 'n/a'}; "
              f"controller 'FastAGI slow' warnings: {meta['controller_log_agi_slow_warnings']}; "
              f"Asterisk mirror fallbacks (T): {meta['asterisk_log_mirror_fallbacks']}; "
              f"UAS-side failed calls: {uas_failed}")
        if args.json:
            args.json.write_text(json.dumps(doc, indent=2, default=str))
            print(f"wrote {args.json}")
        return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
