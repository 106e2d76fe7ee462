"""Where does the controller path's added call set-up time go? Dialplan variants on ONE Asterisk.

    sudo .venv/bin/python bench/experiments/exp_setup.py --reps 3 --calls 200 --rate 20 \
        --variants base,full,copy,nocel,... --json out.json

Each variant is a copy of the live (rendered) ``ivr-route`` + ``ivr-step-direct`` contexts with
one element removed (replaced by NoOp, so the priority count stays the same), reached from an
extra endpoint ``bench-exp`` (source 127.0.0.4) whose context dispatches on a 3-digit prefix of
the dialed number. Runs are interleaved (v1, v2, ..., v1, v2, ...), --reps each, on the same
Asterisk, with the same sipp UAC / UAS phones as bench_routing.py.

Variants (see VARIANTS): base = Dial straight away; ctl = the real carrier path (127.0.0.2);
full = Goto(ivr-citizens) from bench-exp (the production dialplan); copy = the copied contexts
untouched (must equal full); nocel/noring/notimeout/noexec/... one element removed; trivagi2 /
trivagi0 / agiclosed / noagi = AGI server variants (values the controller would have answered are
set statically from the entry extension, so the rest of the path is unchanged); timed /
basetimed = copies with µs timestamps (STRFTIME %6q) logged per call at NOTICE level.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import bench_routing as br  # noqa: E402
from bench_routing import (LabDeployment, RunResult, TreeMeter, create_lab, directory_yaml,  # noqa: E402
                           ensure_baseline, fmt, numbers, percentile, ports, provision,
                           run_uac, start_uas)

EXP_IP = "127.0.0.4"
MARK = "; --- exp_setup variants"
TS = "${STRFTIME(,,%s.%6q)}"

# name -> (description, list of transformations)
VARIANTS: dict[str, str] = {
    "base": "Dial(PJSIP/ep,20) straight away (no ivr dialplan)",
    "ctl": "the real controller path: carrier source 127.0.0.2 -> ivr-citizens",
    "full": "Goto(ivr-citizens,num,1) from bench-exp: the production dialplan",
    "copy": "copy of ivr-route/ivr-step-direct, untouched",
    "nocel": "copy, CELGenUserEvent IVR_CALL/IVR_ROUTE/IVR_STEP -> NoOp",
    "nocelcall": "copy, only IVR_CALL -> NoOp (recorder then drops the call: controller load too)",
    "noring": "copy, Ringing() -> NoOp",
    "notimeout": "copy, both Set(TIMEOUT(absolute)) -> NoOp",
    "noexec": "copy, executor loop + Gosub replaced by Dial(first step target)",
    "trivagi2": "copy, AGI to a trivial stdlib server, 2 SET VARIABLE",
    "trivagi1": "copy, AGI to a trivial stdlib server, 1 SET VARIABLE (+ IVR_PLAN static)",
    "trivagi0": "copy, AGI to a trivial stdlib server, 0 SET VARIABLE (values static)",
    "agiclosed": "copy, AGI to a closed port (values static, AGISTATUS check removed)",
    "noagi": "copy, AGI -> NoOp (values static, AGISTATUS check removed)",
    "minimal": "copy, no CEL, no Ringing, no TIMEOUT, no AGI, no executor loop",
    "celafter": "copy, IVR_CALL emitted just after the AGI instead of before Ringing",
    "nocel_triv": "copy, no CEL and AGI to the trivial server (2 SET VARIABLE)",
    "nocel_noagi": "copy, no CEL and no AGI (values static)",
    "timed": "copy with µs timestamps at each stage, logged after the call",
    "basetimed": "base with µs timestamps",
}


def section(text: str, name: str) -> list[str]:
    out, on = [], False
    for line in text.splitlines():
        if line.startswith("["):
            on = line.split("]")[0] == f"[{name}"
            continue
        if on and line.strip() and not line.lstrip().startswith(";"):
            out.append(line)
    return out


def noop(line: str) -> str:
    """Replace the application of a dialplan line by NoOp(), keeping exten/priority/label."""
    m = re.match(r"^(\s*(?:exten\s*=>\s*[^,]+,\s*[^,]+|same\s*=>\s*[^,]+),)(.*)$", line)
    assert m, line
    return m.group(1) + "NoOp()"


def split_app(line: str) -> tuple[str, str]:
    m = re.match(r"^(\s*(?:exten\s*=>\s*[^,]+,\s*[^,]+|same\s*=>\s*[^,]+),)(.*)$", line)
    assert m, line
    return m.group(1), m.group(2)


FLAGS = {"nocel": {"nocel"}, "minimal": {"nocel", "noring", "notimeout", "noagi", "noexec"},
         "nocel_triv": {"nocel", "trivagi2"}, "nocel_noagi": {"nocel", "noagi"}}


def variant_contexts(v: str, live: str, agi_port: int, triv_port: int, closed_port: int) -> str:
    f = FLAGS.get(v, {v})
    route = section(live, "ivr-route")
    step = section(live, "ivr-step-direct")
    ctx, sctx = f"exp-{v}-route", f"exp-{v}-step"
    # only the agi path: s extension and run extension (mirror/refuse/T kept for safety)
    out: list[str] = []
    static_vals = False
    for line in route:
        l2 = line.replace("ivr-step-${IVR_KIND}", f"exp-{v}-step-${{IVR_KIND}}")
        pre, app = split_app(l2)
        if app.startswith("CELGenUserEvent(IVR_") and "nocel" in f:
            if any(app.startswith(f"CELGenUserEvent(IVR_{k},") for k in ("CALL", "ROUTE", "STEP")):
                l2 = noop(l2)
        if app.startswith("CELGenUserEvent(IVR_CALL,") and "nocelcall" in f:
            l2 = noop(l2)
        if app.startswith("Ringing(") and "noring" in f:
            l2 = noop(l2)
        if app.startswith("Set(TIMEOUT(absolute)") and "notimeout" in f:
            l2 = noop(l2)
        if app.startswith("AGI("):
            if "trivagi2" in f:
                l2 = pre + f"AGI(agi://127.0.0.1:{triv_port}/route2,${{IVR_KEY}})"
            elif "trivagi1" in f:
                l2 = pre + f"AGI(agi://127.0.0.1:{triv_port}/route1,${{IVR_KEY}})"
                out.append(l2)
                l2 = " same => n,Set(IVR_PLAN=${EXP_PLAN})"
            elif "trivagi0" in f:
                l2 = pre + f"AGI(agi://127.0.0.1:{triv_port}/route0,${{IVR_KEY}})"
                static_vals = True
            elif "agiclosed" in f:
                l2 = pre + f"AGI(agi://127.0.0.1:{closed_port}/route,${{IVR_KEY}})"
                static_vals = True
            elif "noagi" in f:
                l2 = noop(l2)
                static_vals = True
            if static_vals:
                out.append(l2)
                out.append(" same => n,Set(IVR_PLAN=${EXP_PLAN})")
                l2 = " same => n,Set(IVR_INFO=${EXP_INFO})"
        if "celafter" in f and app.startswith("CELGenUserEvent(IVR_CALL,"):
            l2 = noop(l2)
        if "celafter" in f and app.startswith("AGI("):
            out.append(l2)
            l2 = " same => n,CELGenUserEvent(IVR_CALL,dialed=${IVR_DIALED})"
        if app.startswith('GotoIf($["${AGISTATUS}"') and static_vals:
            l2 = noop(l2)
        if v == "timed":
            if app.startswith("AGI("):
                out.append(f" same => n,Set(EXP_T1={TS})")
                out.append(l2)
                l2 = f" same => n,Set(EXP_T2={TS})"
            elif app.startswith("Set(IVR_KEY=${IVR_DIALED})"):
                out.append(l2.replace("Set(IVR_KEY=${IVR_DIALED})", f"Set(EXP_T0={TS})"))
                l2 = " same => n,Set(IVR_KEY=${IVR_DIALED})"
            elif app.startswith("Set(__IVR_OFFICIAL="):
                out.append(l2.replace("Set(__IVR_OFFICIAL=${IVR_OFFICIAL})", f"Set(EXP_T3={TS})"))
                l2 = " same => n,Set(__IVR_OFFICIAL=${IVR_OFFICIAL})"
            elif app.startswith("Gosub("):
                out.append(f" same => n,Set(EXP_T4={TS})")
        if "noexec" in f and app.startswith("Set(IVR_N=${FIELDQTY"):
            # replace the loop by a direct Dial of the first step's target
            out.append(" same => n,Set(IVR_TARGET=${CUT(IVR_PLAN,^,2)})")
            if f == {"noexec"}:
                out.append(" same => n,CELGenUserEvent(IVR_STEP,n=1\\;kind=direct\\;target=${IVR_TARGET})")
            out.append(" same => n,Dial(${IVR_TARGET},20)")
            out.append(" same => n,Hangup()")
            skip_rest_of_run = True
            break
        out.append(l2)
    else:
        skip_rest_of_run = False
    if skip_rest_of_run:
        # the extensions after `run` (none in the template today) are dropped with the loop
        pass
    text = [f"[{ctx}]"] + out
    steps = []
    for line in step:
        pre, app = split_app(line)
        if v == "timed" and app.startswith("Dial("):
            # the caller hangs up first, so the dialplan stops in Dial: log from a hangup handler
            steps.append(f"{pre}Set(CHANNEL(hangup_handler_push)=exp-log,s,1)")
            steps.append(f" same => n,Set(EXP_T5={TS})")
            steps.append(" same => n," + app)
            continue
        steps.append(line)
    text += ["", f"[{sctx}-direct]"] + steps
    return "\n".join(text) + "\n"


def exp_extensions(live: str, variants: list[str], values: dict[str, dict[str, str]], n_phones: int,
                   agi_port: int, triv_port: int, closed_port: int) -> str:
    L = [f"\n{MARK} ---", "[bench-exp]"]
    for i, v in enumerate(variants):
        for num, ep in numbers(n_phones):
            ext = prefix(i) + num
            vals = values[num]
            L.append(f"exten => {ext},1,Set(EXP_PLAN={vals['IVR_PLAN']})")
            L.append(f" same => n,Set(EXP_INFO={vals['IVR_INFO']})")
            if v == "base":
                L.append(f" same => n,Dial(PJSIP/{ep},20)")
            elif v == "basetimed":
                L.append(" same => n,Set(CHANNEL(hangup_handler_push)=exp-log,s,1)")
                L.append(f" same => n,Set(EXP_T0={TS})")
                L.append(f" same => n,Set(EXP_T5=${{EXP_T0}})")
                L.append(f" same => n,Dial(PJSIP/{ep},20)")
            elif v in ("full", "ctl"):
                L.append(f" same => n,Goto(ivr-citizens,{num},1)")
            else:
                L.append(f" same => n,Set(IVR_DIALED={num})")
                L.append(f" same => n,Goto(exp-{v}-route,s,1)")
            L.append(" same => n,Hangup()")
    L.append("")
    L.append("[exp-log]")
    L.append("exten => s,1,Log(NOTICE,EXPT ${CHANNEL(pjsip,call-id)} ${EXP_T0} ${IF($[\"${EXP_T1}\" = \"\"]?-:${EXP_T1})} "
             "${EXP_T2} ${EXP_T3} ${EXP_T4} ${EXP_T5} ${DIALEDTIME_MS} ${ANSWEREDTIME_MS})")
    L.append(" same => n,Return()")
    L.append("")
    for v in variants:
        if v in ("base", "basetimed", "full", "ctl"):
            continue
        L.append(variant_contexts(v, live, agi_port, triv_port, closed_port))
    return "\n".join(L) + "\n"


def prefix(i: int) -> str:
    return f"7{i:02d}"


EXP_PJSIP = (f"\n{MARK}: bench-exp trunk ---\n"
             "[bench-exp](ivr-media)\ncontext = bench-exp\n\n"
             f"[bench-exp]\ntype = identify\nendpoint = bench-exp\nmatch = {EXP_IP}\n")


def ensure_exp(lab: LabDeployment, ext_text: str) -> None:
    inst = lab.asterisk
    etc = inst.host_path(inst.etc_dir)
    for fname, extra, module, probe, expect in (
            ("pjsip.conf", EXP_PJSIP, "res_pjsip.so", "pjsip show endpoint bench-exp", EXP_IP),
            ("extensions.conf", ext_text, "pbx_config.so", "dialplan show bench-exp", "EXP_PLAN")):
        if expect in inst.cli(probe):
            continue
        text = (etc / fname).read_text(encoding="utf-8")
        if MARK not in text:
            inst.write_file(fname, text + extra)
        inst.cli(f"module reload {module}")
        deadline = time.monotonic() + 10
        while expect not in inst.cli(probe):
            if time.monotonic() > deadline:
                raise SystemExit(f"exp {fname} did not load: {inst.cli(probe)[:2000]}")
            time.sleep(0.1)


async def agi_values(host: str, port: int, number: str) -> dict[str, str]:
    """What the controller answers for ``number`` (as Asterisk would ask)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write((f"agi_network: yes\nagi_network_script: route\nagi_request: agi://{host}:{port}/route\n"
                  f"agi_channel: PJSIP/probe-1\nagi_arg_1: {number}\n\n").encode())
    vals = {}
    while True:
        line = await reader.readline()
        if not line:
            break
        m = re.match(rb'SET VARIABLE (\w+) "(.*)"\n', line)
        if m:
            vals[m.group(1).decode()] = m.group(2).decode()
            writer.write(b"200 result=1\n")
    writer.close()
    return vals


def parse_expt(log_text: str) -> list[list[str]]:
    rows = []
    for line in log_text.splitlines():
        i = line.find("EXPT ")
        if i >= 0:
            rows.append(line[i + 5:].split())
    return rows


def load_sipp_times(workdir: Path) -> dict[str, tuple[float, float]]:
    """call_number -> (invite time, 200 time) from the UAC log."""
    inv, ans = {}, {}
    for line in (workdir / "calls.log").read_text(errors="replace").splitlines():
        f = line.split()
        if len(f) == 4 and f[0] in ("I", "A"):
            (inv if f[0] == "I" else ans)[f[1]] = float(f[2]) + float(f[3]) / 1e6
    return {c: (inv[c], ans[c]) for c in ans if c in inv}


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--hold", type=float, default=3.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--phones", type=int, default=4)
    ap.add_argument("--variants", default="base,full,copy,nocel,noring,notimeout,noexec,trivagi2,"
                                          "trivagi0,agiclosed,noagi,minimal")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--pyspy", default="", help="variant name: py-spy record the controller during "
                                                 "its runs (raw folded stacks into the work folder)")
    ap.add_argument("--configs", default="",
                    help="controller configurations, interleaved: 'name:K=V,K=V;name2:K=V' (env of "
                         "the controller process; it is restarted before each configuration's runs)")
    args = ap.parse_args()
    configs: list[tuple[str, dict[str, str]]] = [("", {})]
    if args.configs:
        configs = []
        for part in args.configs.split(";"):
            name, _, kvs = part.partition(":")
            configs.append((name, dict(kv.split("=", 1) for kv in kvs.split(",") if kv)))
    args.limit = max(1, round(args.rate * args.hold))
    args.probe = 0
    variants = args.variants.split(",")
    for v in variants:
        assert v in VARIANTS, v

    root = provision()
    work = Path(tempfile.mkdtemp(prefix="exp-setup-"))
    phone_ports = ports.free_ports(args.phones)
    lab = await create_lab(root, work / "lab", directory_yaml(phone_ports), name="exp-setup",
                           start_asterisk=False)
    uas: list[asyncio.subprocess.Process] = []
    triv = None
    results: list[RunResult] = []
    try:
        inst = lab.asterisk
        rtp = ports.rtp_range(2 * (4 * args.limit + 100))
        inst.write_file("rtp.conf", f"[general]\nrtpstart = {rtp.start}\nrtpend = {rtp.end}\n")
        await asyncio.to_thread(inst.start)
        await asyncio.to_thread(inst.cli, "core set verbose 0")
        for i, port in enumerate(phone_ports, 1):
            uas.append(await start_uas(work / f"uas-{i}", port, f"o-bench{i}"))
        lab.start_controller()
        await lab.wait_ready()
        await asyncio.to_thread(ensure_baseline, lab, args.phones)
        values = {num: await agi_values(lab.config.agi.host, lab.config.agi.port, num)
                  for num, _ in numbers(args.phones)}
        (work / "values.json").write_text(json.dumps(values))
        triv_port, closed_port = ports.free_port(), ports.free_port()
        triv = await asyncio.create_subprocess_exec(sys.executable, str(HERE / "trivial_agi.py"),
                                                    str(triv_port), str(work / "values.json"))
        live = (inst.host_path(inst.etc_dir) / "extensions.conf").read_text()
        ext_text = exp_extensions(live, variants, values, args.phones, lab.config.agi.port,
                                  triv_port, closed_port)
        (work / "exp_extensions.conf").write_text(ext_text)
        await asyncio.to_thread(ensure_exp, lab, ext_text)
        meters = {"controller": TreeMeter("controller", lab.controller.pid),
                  "asterisk": TreeMeter("asterisk", inst.pid)}
        print(f"work {work}; variants {variants}; values {values}", flush=True)

        async def restart(env: dict[str, str]) -> None:
            await asyncio.to_thread(lab.stop_controller)
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                lab.start_controller()
            finally:
                for k, val in saved.items():
                    if val is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = val
            await lab.wait_ready()
            if "_NICE" in env:  # renice every thread of the controller (new threads inherit it)
                for tid in os.listdir(f"/proc/{lab.controller.pid}/task"):
                    os.setpriority(os.PRIO_PROCESS, int(tid), int(env["_NICE"]))
            await asyncio.to_thread(ensure_baseline, lab, args.phones)
            await asyncio.to_thread(ensure_exp, lab, ext_text)
            meters["controller"] = TreeMeter("controller", lab.controller.pid)

        async def one(v: str, rep: int, wargs: argparse.Namespace, label: str = "") -> RunResult:
            label = label or v
            i = variants.index(v)
            if v == "ctl":
                src, dialed = br.CARRIER_IP, None
            else:
                src, dialed = EXP_IP, [prefix(i) + n for n, _ in numbers(args.phones)]
            await asyncio.to_thread(ensure_exp, lab, ext_text)
            spy = None
            if args.pyspy in (v, label) and rep > 0:
                spy = await asyncio.create_subprocess_exec(
                    str(Path(sys.executable).parent / "py-spy"), "record", "-r", "250", "--nonblocking", "--threads", "--format", "raw", "-o",
                    str(work / f"pyspy-{label.replace(':', '_')}-{rep}.txt"), "-p", str(lab.controller.pid), "-d", "12",
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            r = await run_uac(lab, work / f"{label}-{rep}", v, rep, wargs, meters, src=src, dialed=dialed)
            if spy is not None:
                await spy.wait()
            return r

        wargs = argparse.Namespace(**{**vars(args), "calls": 2 * args.phones, "rate": 10.0,
                                      "limit": 10, "hold": 0.2})
        for v in variants:  # warm-up: proves every variant completes calls
            r = await one(v, 0, wargs)
            if r.completed != r.attempted or not r.attempted:
                raise SystemExit(f"warm-up of {v} failed: {r.completed}/{r.attempted}; {work / f'{v}-0'}")
        labels = [f"{c}:{v}" if c else v for c, _ in configs for v in variants]
        for rep in range(1, args.reps + 1):
          for cname, cenv in configs:
            if args.configs:
                await restart(cenv)
                await one(variants[0], 0, wargs, f"{cname}:warm")  # first calls after a restart
            for v in variants:
                label = f"{cname}:{v}" if cname else v
                load0 = os.getloadavg()[0]
                r = await one(v, rep, args, label)
                r.path = label
                results.append(r)
                print(f"  {label:<10} #{rep}: {r.completed}/{r.attempted} ok, p50 {fmt(r.p50)} p90 "
                      f"{fmt(r.p90)} p99 {fmt(r.p99)} ms, ctl {r.ctrl_cpu_pct:.1f} %, ast "
                      f"{r.ast_cpu_pct:.1f} %, host {r.machine_busy_pct:.0f} %, load1 {load0:.2f}",
                      flush=True)

        # report
        def base_of(label: str, q: str) -> float:
            c = label.split(":")[0] + ":" if ":" in label else ""
            rs = [getattr(r, q) for r in results if r.path == c + "base"]
            return statistics.median(rs) if rs else 0.0
        print("\nvariant      p50 runs (med)            p99 runs (med)              +p50   +p99  "
              "pooled p50/p99   ctl%  ast%  ast ms/call ctl ms/call host%")
        summary = {}
        for v in labels:
            base_p50, base_p99 = base_of(v, "p50"), base_of(v, "p99")
            rs = [r for r in results if r.path == v]
            pooled = sorted(x for r in rs for x in r.setup_ms)
            p50m = statistics.median(r.p50 for r in rs)
            p99m = statistics.median(r.p99 for r in rs)
            ast_ms = 1000 * sum(r.ast_cpu_s for r in rs) / max(1, sum(r.attempted for r in rs))
            ctl_ms = 1000 * sum(r.ctrl_cpu_s for r in rs) / max(1, sum(r.attempted for r in rs))
            s = {"p50_runs": [r.p50 for r in rs], "p99_runs": [r.p99 for r in rs], "p50_med": p50m,
                 "p99_med": p99m, "added_p50": p50m - base_p50, "added_p99": p99m - base_p99,
                 "pooled_p50": percentile(pooled, .5), "pooled_p99": percentile(pooled, .99),
                 "ctl_pct": statistics.median(r.ctrl_cpu_pct for r in rs),
                 "ast_pct": statistics.median(r.ast_cpu_pct for r in rs),
                 "ast_ms_per_call": ast_ms, "ctl_ms_per_call": ctl_ms,
                 "host_pct": statistics.median(r.machine_busy_pct for r in rs),
                 "failed": sum(r.failed for r in rs)}
            summary[v] = s
            print(f"{v:<11}{'/'.join(fmt(x, 1) for x in s['p50_runs']):>16} ({fmt(p50m)})"
                  f"{'/'.join(fmt(x, 1) for x in s['p99_runs']):>20} ({fmt(p99m)})"
                  f"{s['added_p50']:>7.2f}{s['added_p99']:>7.2f}  {fmt(s['pooled_p50'])}/{fmt(s['pooled_p99'])}"
                  f"{s['ctl_pct']:>7.1f}{s['ast_pct']:>6.1f}{ast_ms:>9.2f}{ctl_ms:>11.2f}{s['host_pct']:>7.0f}"
                  f"{'' if not s['failed'] else '  FAILED ' + str(s['failed'])}")
        # stage breakdown from the timed variants
        stages = {}
        for v in [lb for lb in labels if lb.split(":")[-1] in ("timed", "basetimed")]:
            rows = {}
            for row in parse_expt(inst.log_text()):
                rows[row[0]] = row
            segs: dict[str, list[float]] = {}
            for rep in range(1, args.reps + 1):
                wd = work / f"{v}-{rep}"
                pid_calls = load_sipp_times(wd)
                for cid, row in rows.items():
                    num = cid.split("-")[0]
                    if not cid.endswith("@" + EXP_IP) or num not in pid_calls:
                        continue
                    ti, ta = pid_calls[num]
                    if not ti <= float(row[1]) <= ta:
                        continue  # same call number, another run
                    if row[2] == "-":  # basetimed: cid t0 - t5 dialed answered
                        row = [row[0], row[1], "-", "-", "-", "-", row[3], row[4], row[5]]
                    t0 = float(row[1])
                    t5 = float(row[6])
                    dial_to_answer = (int(row[7]) - int(row[8])) / 1000.0
                    segs.setdefault("invite->t0 (pjsip in, dialplan start)", []).append((t0 - ti) * 1000)
                    if row[2] != "-":
                        t1, t2, t3, t4 = (float(x) for x in row[2:6])
                        segs.setdefault("t0->AGI start", []).append((t1 - t0) * 1000)
                        segs.setdefault("AGI", []).append((t2 - t1) * 1000)
                        segs.setdefault("AGI end->run", []).append((t3 - t2) * 1000)
                        segs.setdefault("run->Gosub", []).append((t4 - t3) * 1000)
                        segs.setdefault("Gosub->Dial", []).append((t5 - t4) * 1000)
                    segs.setdefault("t0->Dial start", []).append((t5 - t0) * 1000)
                    segs.setdefault("Dial start->answer (DIALEDTIME_MS-ANSWEREDTIME_MS, ms res)", []).append(dial_to_answer * 1000)
                    segs.setdefault("Dial start->200 at UAC", []).append((ta - t5) * 1000)
                    segs.setdefault("total invite->200", []).append((ta - ti) * 1000)
            stages[v] = {k: {"n": len(x), "p50": percentile(sorted(x), .5), "p90": percentile(sorted(x), .9),
                             "p99": percentile(sorted(x), .99)} for k, x in segs.items()}
            print(f"\nstage breakdown, {v} (ms):")
            for k, s in stages[v].items():
                print(f"  {k:<62} n={s['n']:<4} p50 {s['p50']:.3f}  p90 {s['p90']:.3f}  p99 {s['p99']:.3f}")
        if args.json:
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                             "summary": summary, "stages": stages,
                                             "variants": {v: VARIANTS[v] for v in variants},
                                             "work": str(work)}, indent=2))
        return 0
    finally:
        if triv is not None and triv.returncode is None:
            triv.send_signal(signal.SIGTERM)
            await triv.wait()
        for p in uas:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(p.wait(), 5)
                except asyncio.TimeoutError:
                    p.kill()
                    await p.wait()
        await asyncio.to_thread(lab.close)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(lab.asterisk.host_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
