"""Where Asterisk's own work on the mirror path goes (issue 16, step 1). One lab Asterisk.

    .venv/bin/python bench/experiments/exp_mirror.py --micro 20000            # dialplan loops only
    .venv/bin/python bench/experiments/exp_mirror.py --micro 0 --perf 900     # perf, 900 calls/path

* ``--micro N``: the live rendered ``ivr-route`` ``mirror`` extension (up to its ``Goto(run,1)``)
  is copied into a subroutine and run N times in a loop inside one Local channel, per variant;
  Asterisk's CPU (utime+stime from /proc) over the loop / N = CPU per route look-up:
    - ``empty``: the loop and a Gosub/Return only (subtracted from the others);
    - ``mirror``: the production look-up, an official without schedule windows (the bench's);
    - ``mirror_win``: the same for an official with 3 weekly windows and holiday windows (a test
      official ``o/990`` written to AstDB by this script, copied from official 1);
    - ``consts`` / ``consts_win``: the same with every ``${DB(...)}`` replaced by the value it
      reads (bounds what any mirror format can gain on DB() reads);
    - ``fast``: the usual call's look-up since issue 16 (one AstDB value, num/<digits>, read
      and split by ``s`` itself); ``mirror`` is then the fallback past a boundary;
    - ``exec``: the executor's priorities up to its Gosub (CEL user events and the Dial step
      replaced by NoOp); ``exec_old``: the same for the executor before issue 16's changes
      (git show 0d9dc48:…/executor.tmpl).
* ``--perf N``: N calls at --rate through the static dialplan (baseline) and through the routing
  path, each recorded by ``perf record`` on Asterisk; prints the top symbols of each and writes the
  reports next to --out.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import bench_routing as br  # noqa: E402
from bench_routing import (TreeMeter, create_lab, directory_yaml, ensure_baseline, numbers,  # noqa: E402
                           ports, provision, run_uac, start_uas)

MARK = "; --- exp_mirror"
VARIANTS = ["empty", "mirror", "consts", "mirror_win", "consts_win", "fast", "exec", "exec_old",
            "nop10", "set10", "db10", "cut10", "execif10"]
WIN = "28800-43200-direct|50400-64800-pool|118800-133200-deputy"
HWIN = "0-28800-voicemail|64800-86400-voicemail"


def section(text: str, name: str) -> list[str]:
    out, on = [], False
    for line in text.splitlines():
        if line.startswith("["):
            on = line.split("]")[0] == f"[{name}"
            continue
        if on and line.strip() and not line.lstrip().startswith(";"):
            out.append(line)
    return out


def extension(lines: list[str], exten: str) -> list[str]:
    """The lines of one extension (its `exten =>` line and the `same =>` lines after it)."""
    out, on = [], False
    for line in lines:
        if line.startswith("exten =>"):
            on = line.split("=>", 1)[1].split(",", 1)[0].strip() == exten
        if on:
            out.append(line)
    return out


def lookup_sub(route: list[str], ctx: str, consts: dict[str, str] | None, key: str = "",
               key_o: str = "") -> str:
    """The mirror look-up as a subroutine ``s`` of ``ctx``: its Goto(run,1) becomes Return()."""
    body = extension(route, "mirror")
    out = [f"[{ctx}]"]
    for line in body:
        line = line.replace("exten => mirror,1,", "exten => s,1,")
        line = re.sub(r"Goto\((run|default|nomirror),1\)", "Return()", line)
        line = re.sub(r"\?(nomirror|default),1\)", "?done)", line)
        line = line.replace("?plan)", "?plan)")
        if consts is not None:
            line = re.sub(r"\$\{DB\(ivr/([^)]*)\)\}", lambda m: consts.get(
                m.group(1).replace("${IVR_KEY}", key).replace("${IVR_OFFICIAL}", key_o)
                .replace("${IVR_DEP}", "").replace("${IVR_MODE}", consts.get(f"o/{key_o}/effective", "")),
                ""), line)
        out.append(line)
    out.append(" same => n(done),Return()")
    return "\n".join(out)


def fast_sub(route: list[str], ctx: str) -> str | None:
    """The usual call's look-up (``s`` from its ``Set(IVR_NUM=…)``), as a subroutine."""
    body = extension(route, "s")
    start = next((i for i, x in enumerate(body) if "Set(IVR_NUM=" in x), None)
    if start is None:
        return None
    out = [f"[{ctx}]"]
    for i, line in enumerate(body[start:]):
        line = re.sub(r"^\s*(exten => s,1|same => n),", "exten => s,1," if i == 0 else " same => n,", line)
        line = re.sub(r"Goto\(run,1\)", "Return()", line)
        line = re.sub(r"\?slow,1\)", "?done)", line)
        line = line.replace("?run,fast:slow,1)", "?done:done)")
        out.append(line)
    out.append(" same => n(done),Return()")
    return "\n".join(out)


def exec_sub(route: list[str], ctx: str) -> str:
    body = extension(route, "run")
    out = [f"[{ctx}]"]
    for line in body:
        line = line.replace("exten => run,1,", "exten => s,1,")
        if "CELGenUserEvent(" in line or "Gosub(" in line or "GosubIf(" in line:
            line = re.sub(r",(CELGenUserEvent|Gosub|GosubIf)\(.*$", ",NoOp()", line)
        if "Hangup()" in line:
            line = line.replace("Hangup()", "Return()")
        out.append(line)
    return "\n".join(out)


OLD_COMMIT = "0d9dc48"  # before issue 16's denser mirror: its executor, for `exec_old`


def old_executor() -> list[str]:
    text = subprocess.run(["git", "-C", str(HERE), "show",
                           f"{OLD_COMMIT}:ivr/asterisk/templates/extensions/executor.tmpl"],
                          capture_output=True, text=True).stdout
    return section(text, "ivr-route")


def micro_dialplan(live: str, consts: dict[str, str], n: int) -> str:
    route = section(live, "ivr-route")
    L = [f"\n{MARK} ---"]
    old = old_executor()
    L.append(exec_sub(old, "exp-exec-old") if old else "[exp-exec-old]\nexten => s,1,Return()")
    L.append(lookup_sub(route, "exp-look", None))
    L.append(lookup_sub(route, "exp-look-c", consts, "05585559001", "1"))
    L.append(lookup_sub(route, "exp-look-cw", consts, "05585559990", "990"))
    for name, app in (("nop", "NoOp()"), ("set", "Set(EXP_X=abc)"),
                      ("db", "Set(EXP_X=${DB(ivr/o/1/mode)})"),
                      ("cut", "Set(EXP_X=${CUT(IVR_PLAN,^,2)})"),
                      ("execif", 'ExecIf($["${IVR_MENU}" = "1"]?Set(EXP_X=1))'),
                      ("cel", "CELGenUserEvent(EXP_MICRO,n=1)")):
        L.append(f"[exp-{name}10]\nexten => s,1,{app}\n" + "\n".join(f" same => n,{app}" for _ in range(9))
                 + "\n same => n,Return()")
    L.append(exec_sub(route, "exp-exec"))
    fast = fast_sub(route, "exp-fast")
    L.append(fast or "[exp-fast]\nexten => s,1,Return()")
    L.append("[exp-empty]\nexten => s,1,Return()")
    L.append("[exp-micro]")
    subs = {"empty": ("exp-empty", "0558555" + "9001"), "mirror": ("exp-look", "05585559001"),
            "mirror_win": ("exp-look", "05585559990"), "consts": ("exp-look-c", "05585559001"),
            "consts_win": ("exp-look-cw", "05585559990"), "exec": ("exp-exec", "05585559001"),
            "fast": ("exp-fast", "05585559001"), "exec_old": ("exp-exec-old", "05585559001"),
            **{f"{x}10": (f"exp-{x}10", "05585559001") for x in ("nop", "set", "db", "cut", "execif")}}
    for v, (ctx, key) in subs.items():
        L.append(f"exten => {v},1,Set(IVR_KEY={key})")
        L.append(" same => n,Set(IVR_PLAN=direct^PJSIP/o-bench1^20|voicemail^1^120)")
        L.append(" same => n,Set(IVR_MENU=0)")
        L.append(" same => n,Set(IVR_I2=0)")
        L.append(f" same => n(loop),Gosub({ctx},s,1)")
        L.append(" same => n,Set(IVR_I2=$[${IVR_I2} + 1])")
        L.append(f" same => n,GotoIf($[${{IVR_I2}} < {n}]?loop)")
        L.append(f" same => n,Log(NOTICE,EXPMICRO {v} done ${{IVR_MODE}} ${{IVR_PLAN}})")
        L.append(" same => n,Hangup()")
    return "\n".join(L) + "\n"


def ast_cpu(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text()
    f2 = f[f.rindex(")") + 2:].split()
    return (int(f2[11]) + int(f2[12])) / os.sysconf("SC_CLK_TCK")


def originate(lab: br.LabDeployment, channel: str) -> None:
    """AMI Originate (the lab has no res_clioriginate), the controller's AMI account."""
    import socket
    a = lab.config.ami
    with socket.create_connection((a.host, a.port), 10) as s:
        f = s.makefile("rwb")
        f.readline()
        f.write(f"Action: Login\r\nUsername: {a.user}\r\nSecret: {a.secret}\r\n\r\n".encode())
        f.write(f"Action: Originate\r\nChannel: {channel}\r\nApplication: Wait\r\nData: 0\r\n"
                f"Async: true\r\nActionID: exp\r\n\r\nAction: Logoff\r\n\r\n".encode())
        f.flush()
        resp = f.read().decode(errors="replace")
    if "Originate successfully queued" not in resp and "Success" not in resp.split("ActionID: exp")[-1][:200]:
        print(f"  originate answer: {resp[-400:]}")


def run_micro(lab: br.LabDeployment, n: int, reps: int) -> None:
    inst = lab.asterisk
    etc = inst.host_path(inst.etc_dir)
    # a test official with windows: official 1's keys, and the number 05585559990
    for k in ("name", "mode", "lang", "avail", "dep"):
        v = lab.astdb(f"o/1/{k}") or ""
        inst.cli(f'database put ivr o/990/{k} "{v}"')
    for m in ("direct", "pool", "deputy", "voicemail"):
        inst.cli(f'database put ivr o/990/plan/{m} "{lab.astdb(f"o/1/plan/{m}") or ""}"')
    inst.cli(f'database put ivr o/990/win "{WIN}"')
    inst.cli(f'database put ivr o/990/hwin "{HWIN}"')
    n1 = lab.astdb("num/05585559001") or "1^0^"
    inst.cli(f'database put ivr num/05585559990 "990{n1[n1.index("^"):]}"')
    tree = inst.cli("database show ivr")
    consts: dict[str, str] = {}
    for line in tree.splitlines():
        m = re.match(r"^/ivr/(\S+)\s*:\s?(.*)$", line.strip())
        if m:
            consts[m.group(1)] = m.group(2).strip()
    live = (etc / "extensions.conf").read_text(encoding="utf-8")
    if MARK not in live:
        inst.write_file("extensions.conf", live + micro_dialplan(live, consts, n))
        inst.cli("module reload pbx_config.so")

    print("AstDB keys used: " + ", ".join(f"{k}={v}" for k, v in sorted(consts.items())
                                          if k.startswith(("num/0558555900", "num/05585559990", "o/1/",
                                                           "o/990/", "meta/"))))
    assert inst.pid is not None
    results: dict[str, list[float]] = {}
    for rep in range(reps):
        for v in VARIANTS:
            before = inst.log_text().count(f"EXPMICRO {v} done")
            c0, t0 = ast_cpu(inst.pid), time.monotonic()
            originate(lab, f"Local/{v}@exp-micro/n")
            deadline = time.monotonic() + 300
            while inst.log_text().count(f"EXPMICRO {v} done") <= before:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{v} did not finish: {inst.log_tail(20)}")
                time.sleep(0.05)
            c1, t1 = ast_cpu(inst.pid), time.monotonic()
            results.setdefault(v, []).append(1e6 * (c1 - c0) / n)
            print(f"  rep {rep + 1} {v:<11} CPU {1e6 * (c1 - c0) / n:8.1f} µs/iteration, "
                  f"wall {1e6 * (t1 - t0) / n:8.1f} µs/iteration", flush=True)
    print("\nmicro: Asterisk CPU per iteration, median of reps (µs), and minus `empty`")
    import statistics
    e = statistics.median(results["empty"])
    for v, vals in results.items():
        med = statistics.median(vals)
        print(f"  {v:<11} {med:8.1f}   {med - e:8.1f}   (runs: {', '.join(f'{x:.1f}' for x in vals)})")
    last = inst.log_text().splitlines()
    from collections import Counter
    kinds = Counter(re.sub(r"^\[[^\]]*\] ", "", re.sub(r"\[\d+\]|\[C-[0-9a-f]+\]", "", x))[:140]
                    for x in last if "SECURITY" not in x)
    errs = [i for i, x in enumerate(last) if "ERROR" in x or "WARNING" in x]
    for i in errs[:3]:
        print("  context: " + " / ".join(last[max(0, i - 3):i + 2])[:1500])
    print("log lines (count, text):\n" + "\n".join(f"  {n:6d} {k}" for k, n in kinds.most_common(12)))
    print("last results: " + " | ".join(x.split("EXPMICRO", 1)[1] for x in last if "EXPMICRO" in x)[-600:])


async def run_perf(lab: br.LabDeployment, work: Path, args: argparse.Namespace,
                   meters: dict[str, TreeMeter], out: Path) -> None:
    assert lab.asterisk.pid is not None
    ns = argparse.Namespace(**{**vars(args), "calls": args.perf, "limit": max(1, round(args.rate * args.hold)),
                               "probe": 0, "hung": False})
    for path in ("baseline", "controller"):
        data = work / f"perf-{path}.data"
        perf = subprocess.Popen(["perf", "record", "-F", "499", "-g", "-o", str(data),
                                 "-p", str(lab.asterisk.pid)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        r = await run_uac(lab, work / f"perf-{path}", path, 1, ns, meters)
        perf.send_signal(signal.SIGINT)
        perf.wait(30)
        print(f"  {path}: {r.completed}/{r.attempted} ok, p50 {r.p50:.2f} ms, Asterisk "
              f"{1000 * r.ast_cpu_s / max(1, r.attempted):.2f} ms CPU/call, controller "
              f"{1000 * r.ctrl_cpu_s / max(1, r.attempted):.2f} ms CPU/call", flush=True)
        for sort in ("dso", "dso,sym"):
            rep = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", sort,
                                  "--stdio", "-g", "none", "--percent-limit", "0.7"],
                                 capture_output=True, text=True).stdout
            tag = sort.replace(",", "-")
            (out.parent / f"{out.stem}-perf-{path}-{tag}.txt").write_text(rep)
            print("\n".join(x for x in rep.splitlines() if x and not x.startswith("#"))[:3000])


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--micro", type=int, default=20000, help="loop iterations per variant (0: skip)")
    ap.add_argument("--micro-reps", type=int, default=3)
    ap.add_argument("--perf", type=int, default=0, help="calls per path under perf (0: skip)")
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--hold", type=float, default=3.0)
    ap.add_argument("--phones", type=int, default=4)
    ap.add_argument("--ast-verbose", type=int, default=3,
                    help="verbose = in asterisk.conf (the lab's default 3; production: 0)")
    ap.add_argument("--ami-disable", default=None,
                    help="manager.conf disabledevents for the run (e.g. Newexten,VarSet; '' none)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "mirror.txt")
    args = ap.parse_args()
    root = provision()
    work = Path(tempfile.mkdtemp(prefix="exp-mirror-"))
    phone_ports = ports.free_ports(args.phones)
    lab = await create_lab(root, work / "lab", directory_yaml(phone_ports), name="exp-mirror",
                           start_asterisk=False)
    uas = []
    try:
        inst = lab.asterisk
        rtp = ports.rtp_range(2 * (4 * round(args.rate * args.hold) + 100))
        inst.write_file("rtp.conf", f"[general]\nrtpstart = {rtp.start}\nrtpend = {rtp.end}\n")
        inst.verbose = args.ast_verbose
        await asyncio.to_thread(inst.start)
        await asyncio.to_thread(inst.cli, "core set verbose 0")
        for i, port in enumerate(phone_ports, 1):
            uas.append(await start_uas(work / f"uas-{i}", port, f"o-bench{i}"))
        lab.start_controller()
        await lab.wait_ready()
        await asyncio.to_thread(ensure_baseline, lab, args.phones)
        assert lab.controller is not None and inst.pid is not None
        meters = {"controller": TreeMeter("controller", lab.controller.pid),
                  "asterisk": TreeMeter("asterisk", inst.pid)}
        print(f"work {work}; numbers {numbers(args.phones)}", flush=True)
        if args.ami_disable is not None:
            etc = inst.host_path(inst.etc_dir)
            text = (etc / "manager.conf").read_text(encoding="utf-8")
            text = re.sub(r"(?m)^disabledevents\s*=.*\n", "", text)
            if args.ami_disable:
                text = text.replace("[general]\n", f"[general]\ndisabledevents = {args.ami_disable}\n", 1)
            inst.write_file("manager.conf", text)
            await asyncio.to_thread(inst.cli, "manager reload")
            print("manager: " + " ".join(x.strip() for x in (await asyncio.to_thread(
                inst.cli, "manager show settings")).splitlines() if "isabled" in x), flush=True)
        if args.perf:
            await run_perf(lab, work, args, meters, args.out)
        if args.micro:
            await asyncio.to_thread(run_micro, lab, args.micro, args.micro_reps)
        return 0
    finally:
        for p in uas:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
                await p.wait()
        await asyncio.to_thread(lab.close)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(lab.asterisk.host_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
