"""The lab harness itself, against a real Asterisk with real SIP calls placed by sipp."""

from __future__ import annotations

import array
import asyncio
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ivr.lab import ports
from ivr.lab.asterisk import BASE_MODULES, AsteriskError, AsteriskInstance, modules_conf

pytestmark = pytest.mark.e2e

CARRIER_IP = "127.0.0.2"

PJSIP = """\
[global]
type = global
endpoint_identifier_order = ip,username
user_agent = ivr-lab

[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:{sip_port}

[endpoint-common](!)
type = endpoint
disallow = all
allow = ulaw,alaw
direct_media = no
media_address = 127.0.0.1
bind_rtp_to_media_address = yes

[carrier](endpoint-common)
context = lab-in

[carrier-identify]
type = identify
endpoint = carrier
match = {carrier_ip}

[phone-1](endpoint-common)
context = lab-phones
auth = phone-1-auth
aors = phone-1

[phone-1-auth]
type = auth
auth_type = digest
username = phone-1
password = secret-1

[phone-1]
type = aor
contact = sip:phone-1@127.0.0.1:{phone_port}

[phone-reg](endpoint-common)
context = lab-phones
auth = phone-reg-auth
aors = phone-reg

[phone-reg-auth]
type = auth
auth_type = digest
username = phone-reg
password = secret-reg

[phone-reg]
type = aor
max_contacts = 1
remove_existing = yes
"""

EXTENSIONS = """\
[lab-in]
exten => _X.,1,NoOp(lab call to ${EXTEN} from ${CALLERID(all)})
 same => n,Dial(PJSIP/phone-1,10)
 same => n,Hangup()

exten => 200,1,Answer()
 same => n,Record(${ASTSPOOLDIR}/lab-rec.wav,0,1,qk)
 same => n,Hangup()

[lab-phones]
exten => _X.,1,Hangup()
"""


def ulaw_tone(hz: float, seconds: float, amplitude: int = 12000) -> bytes:
    """Raw headerless G.711 u-law of a sine tone (what sipp's rtp_stream sends as is)."""
    out = bytearray()
    for n in range(int(8000 * seconds)):
        x = int(amplitude * math.sin(2 * math.pi * hz * n / 8000))
        sign = 0x80 if x < 0 else 0
        x = min(abs(x), 32635) + 132
        exp = max(0, x.bit_length() - 8)
        mant = (x >> (exp + 3)) & 0x0F
        out.append(~(sign | (exp << 4) | mant) & 0xFF)
    return bytes(out)


def lab_files(sip_port: int, phone_port: int) -> dict[str, str]:
    return {
        "modules.conf": modules_conf(),
        "pjsip.conf": PJSIP.format(sip_port=sip_port, phone_port=phone_port, carrier_ip=CARRIER_IP),
        "extensions.conf": EXTENSIONS,
    }


def start_lab(asterisk_instance: Callable[..., AsteriskInstance], name: str = "lab"
              ) -> tuple[AsteriskInstance, int, int]:
    sip_port, phone_port = ports.free_ports(2)
    ast = asterisk_instance(lab_files(sip_port, phone_port), name)
    return ast, sip_port, phone_port


async def call_through(ast: AsteriskInstance, sipp: Any, sip_port: int, phone_port: int,
                       uas: str = "uas_answer", **uac_keys: Any) -> tuple[Any, Any]:
    phone = await sipp(uas, port=phone_port, timeout=20).start()
    uac = sipp("uac_call", remote=("127.0.0.1", sip_port), local_ip=CARRIER_IP, service="100",
               timeout=20, keys={"hold_ms": 300, **uac_keys})
    res = await uac.run()
    return res, await phone.wait()


def _take_ports(_: int) -> tuple[list[int], tuple[int, int]]:
    r = ports.rtp_range(200)
    return ports.free_ports(20), (r.start, r.end)


def test_ports_do_not_collide_across_processes() -> None:
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.map(_take_ports, range(4))
        singles = [p for ps, _ in results for p in ps]
        assert len(singles) == len(set(singles)) == 80
        ranges = sorted(r for _, r in results)
        assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))
        assert all(r[1] - r[0] == 199 and r[0] % 2 == 0 for r in ranges)
        mine = ports.free_ports(50)  # leases of live processes are respected
        assert not set(mine) & set(singles)


def test_modules_conf_names_exist(asterisk_root: Path) -> None:
    moddir = next(p for p in [asterisk_root / "usr/lib/x86_64-linux-gnu/asterisk/modules",
                              asterisk_root / "usr/lib/asterisk/modules"] if p.exists())
    missing = [m for m in BASE_MODULES if not (moddir / f"{m}.so").exists()]
    assert not missing
    assert "autoload = no" in modules_conf(["app_voicemail"])
    assert "load = app_voicemail.so" in modules_conf(["app_voicemail.so"])


def test_start_boots_and_loads_every_module(asterisk_instance: Callable[..., AsteriskInstance]
                                            ) -> None:
    ast, sip_port, _ = start_lab(asterisk_instance)
    assert ast.running and ast.boot_seconds is not None  # how fast it boots is bench/'s business
    assert set(BASE_MODULES) <= ast.loaded_modules()
    assert "phone-1" in ast.cli("pjsip show endpoints")
    assert f"127.0.0.1:{sip_port}" in ast.cli("pjsip show transports")
    # the instance folder is private: log and astdb live under it
    assert ast.log_file.exists() and str(ast.instance_dir) in str(ast.inside(ast.log_file))
    assert ast.host_path(ast.db_dir / "astdb.sqlite3").exists()
    # reconfiguration
    ast.write_file("extensions.conf", EXTENSIONS + "\n[lab-extra]\nexten => 1,1,Hangup()\n")
    ast.cli("dialplan reload")
    assert "lab-extra" in ast.cli("dialplan show lab-extra")
    ast.reload("res_pjsip")
    ast.stop()
    assert not ast.running and not ast.host_path(ast.ctl).exists()


def test_declined_module_fails_start_loudly(asterisk_instance: Callable[..., AsteriskInstance]
                                            ) -> None:
    # app_queue declines to load without queues.conf: start() must say so.
    files = {"modules.conf": modules_conf(), "extensions.conf": EXTENSIONS, "queues.conf": ""}
    inst = asterisk_instance(files, "declined", start=False)
    inst.files.pop("queues.conf")
    inst.host_path(inst.etc_dir / "queues.conf").unlink()
    with pytest.raises(AsteriskError, match="app_queue"):
        inst.start()
    assert not inst.running
    with pytest.raises(AsteriskError, match="do not exist"):
        asterisk_instance({"modules.conf": modules_conf(["app_nonexistent"]),
                           "extensions.conf": EXTENSIONS}, "missing")


def test_taken_sip_port_fails_start_loudly(asterisk_instance: Callable[..., AsteriskInstance]
                                           ) -> None:
    import socket

    sip_port, phone_port = ports.free_ports(2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", sip_port))
        with pytest.raises(AsteriskError, match="could not be started"):
            asterisk_instance(lab_files(sip_port, phone_port), "taken")


async def test_call_answered_by_phone(asterisk_instance: Callable[..., AsteriskInstance],
                                      sipp: Any) -> None:
    ast, sip_port, phone_port = start_lab(asterisk_instance)
    res, phone = await call_through(ast, sipp, sip_port, phone_port, caller="13912345678",
                                    caller_name="Citizen")
    assert res.ok, res.summary()
    assert phone.ok, phone.summary()
    invites = phone.received("INVITE sip:phone-1@127.0.0.1")
    assert len(invites) == 1, phone.messages[-3000:]
    assert "13912345678" in (phone.header(invites[0], "From") or "")
    assert [c for c in res.response_codes() if c >= 200] == [200, 200]  # INVITE, BYE


async def test_call_with_rtp_audio_and_far_end_bye(
        asterisk_instance: Callable[..., AsteriskInstance], sipp: Any, tmp_path: Path) -> None:
    ast, sip_port, phone_port = start_lab(asterisk_instance)
    audio = tmp_path / "tone.ul"
    audio.write_bytes(ulaw_tone(440, 1.0))
    phone = await sipp("uas_answer", port=phone_port, timeout=20,
                       keys={"answer_ms": 200, "hold_ms": 700}).start()
    uac = sipp("uac_call", remote=("127.0.0.1", sip_port), local_ip=CARRIER_IP, service="100",
               keys={"hold_ms": 10000, "play": 1, "audio": str(audio)}, timeout=20)
    res = await uac.run()
    assert res.ok, res.summary()
    # the phone's BYE ended the call: the UAC received one and never sent its own
    assert len(res.received("BYE")) == 1 and not _sent(res, "BYE"), res.messages[-3000:]
    assert (await phone.wait()).ok


def _sent(res: Any, first_line: str) -> list[str]:
    """Messages sipp sent whose first line starts with ``first_line`` (cf. SippResult.received)."""
    out = []
    for block in re.split(r"(?m)^-{10,} [^\n]*\n", res.messages.replace("\r\n", "\n")):
        head, _, body = block.partition("\n")
        if "message sent" in head and body.lstrip("\n").startswith(first_line):
            out.append(body.lstrip("\n"))
    return out


async def test_rtp_stream_reaches_asterisk(asterisk_instance: Callable[..., AsteriskInstance],
                                           sipp: Any, tmp_path: Path) -> None:
    ast, sip_port, _ = start_lab(asterisk_instance)
    audio = tmp_path / "tone.ul"
    audio.write_bytes(ulaw_tone(440, 2.0))
    res = await sipp("uac_call", remote=("127.0.0.1", sip_port), local_ip=CARRIER_IP,
                     service="200", keys={"hold_ms": 5000, "play": 1, "audio": str(audio)},
                     timeout=20).run()
    assert res.ok and res.received("BYE"), res.summary()  # Asterisk hung up after recording
    wav = ast.host_path(ast.spool_dir / "lab-rec.wav").read_bytes()
    samples = array.array("h", wav[44:])
    assert len(samples) > 4000, len(samples)  # > 0.5 s recorded
    loud = samples[800:]  # skip the first 100 ms
    assert max(abs(x) for x in loud) > 5000  # the caller's tone, not silence
    crossings = sum(1 for a, b in zip(loud, loud[1:], strict=False) if (a < 0) != (b < 0))
    hz = crossings / 2 / (len(loud) / 8000)
    assert 400 < hz < 480, hz


async def test_busy_phone_fails_the_call(asterisk_instance: Callable[..., AsteriskInstance],
                                         sipp: Any) -> None:
    ast, sip_port, phone_port = start_lab(asterisk_instance)
    res, phone = await call_through(ast, sipp, sip_port, phone_port, uas="uas_busy")
    assert res.exit_code != 0 and res.failed == 1 and res.successful == 0, res.summary()
    assert 486 in res.response_codes()
    assert phone.ok, phone.summary()
    refused = await sipp("uas_busy", port=phone_port, timeout=20).start()
    fail = await sipp("uac_expect_fail", remote=("127.0.0.1", sip_port), local_ip=CARRIER_IP,
                      service="100", timeout=20).run()
    assert fail.ok and 486 in fail.response_codes(), fail.summary()
    assert (await refused.wait()).ok


async def test_abandon_while_ringing(asterisk_instance: Callable[..., AsteriskInstance],
                                     sipp: Any) -> None:
    ast, sip_port, phone_port = start_lab(asterisk_instance)
    phone = await sipp("uas_noanswer", port=phone_port, timeout=20).start()
    res = await sipp("uac_abandon", remote=("127.0.0.1", sip_port), local_ip=CARRIER_IP,
                     service="100", keys={"ring_ms": 300}, timeout=20).run()
    assert res.ok, res.summary()
    assert 180 in res.response_codes() and 487 in res.response_codes()
    p = await phone.wait()
    assert p.ok and p.received("CANCEL"), p.summary()


async def test_answer_check_on_caller_name(asterisk_instance: Callable[..., AsteriskInstance],
                                           sipp: Any) -> None:
    ast, sip_port, phone_port = start_lab(asterisk_instance)
    ast.write_file("extensions.conf", EXTENSIONS.replace(
        " same => n,Dial(PJSIP/phone-1,10)",
        " same => n,Set(CALLERID(name)=Official 12)\n"
        " same => n,Set(PJSIP_HEADER(add,X-IVR-Official)=12)\n"  # on the caller: not inherited
        " same => n,Dial(PJSIP/phone-1,10,b(lab-hdr^s^1))"))
    ast.write_file("extensions.conf", ast.files["extensions.conf"]
                   + "\n[lab-hdr]\nexten => s,1,Set(PJSIP_HEADER(add,X-IVR-Official)=12)\n"
                     " same => n,Return()\n")
    ast.cli("dialplan reload")
    good = await sipp("uas_answer_check", port=phone_port, timeout=20,
                      keys={"from_re": '^"Official 12"', "official_re": "^12$"}).start()
    res = await sipp("uac_call", remote=("127.0.0.1", sip_port), local_ip=CARRIER_IP,
                     service="100", keys={"hold_ms": 200}, timeout=20).run()
    assert res.ok, res.summary()
    assert (await good.wait()).ok
    bad = await sipp("uas_answer_check", port=phone_port, timeout=20,
                     keys={"official_re": "^99$"}).start()
    res = await sipp("uac_call", remote=("127.0.0.1", sip_port), local_ip=CARRIER_IP,
                     service="100", keys={"hold_ms": 200}, timeout=20).run()
    b = await bad.wait()
    assert b.failed == 1 and b.exit_code != 0, b.summary()
    assert not res.ok  # the phone refused, so the citizen was not connected
    assert b.received("INVITE") and "X-IVR-Official: 12" in b.received("INVITE")[0]


async def test_register_digest(asterisk_instance: Callable[..., AsteriskInstance],
                               sipp: Any) -> None:
    ast, sip_port, _ = start_lab(asterisk_instance)
    ok = await sipp("register", remote=("127.0.0.1", sip_port), keys={"user": "phone-reg"},
                    auth=("phone-reg", "secret-reg"), timeout=10).run()
    assert ok.ok, ok.summary()
    assert "phone-reg/sip:phone-reg@127.0.0.1" in ast.cli("pjsip show contacts")
    bad = await sipp("register", remote=("127.0.0.1", sip_port), keys={"user": "phone-reg"},
                     auth=("phone-reg", "wrong"), timeout=10).run()
    assert bad.exit_code != 0 and bad.failed == 1, bad.summary()
    assert [c for c in bad.response_codes() if c != 100][-1] in (401, 403)


async def test_two_instances_side_by_side(asterisk_instance: Callable[..., AsteriskInstance],
                                          sipp: Any) -> None:
    (a, a_sip, a_phone), (b, b_sip, b_phone) = (start_lab(asterisk_instance, "side-a"),
                                                start_lab(asterisk_instance, "side-b"))
    assert a.instance_dir != b.instance_dir and a_sip != b_sip
    assert a.rtp and b.rtp and (a.rtp.end < b.rtp.start or b.rtp.end < a.rtp.start)
    (ra, pa), (rb, pb) = await asyncio.gather(
        call_through(a, sipp, a_sip, a_phone), call_through(b, sipp, b_sip, b_phone))
    assert ra.ok and pa.ok and rb.ok and pb.ok, (ra.summary(), rb.summary())
    assert "side-a" not in b.log_text() and "lab call to 100" in a.log_text()


async def test_many_calls_at_a_rate(asterisk_instance: Callable[..., AsteriskInstance],
                                    sipp: Any) -> None:
    ast, sip_port, phone_port = start_lab(asterisk_instance)
    phone = await sipp("uas_answer", port=phone_port, calls=20, timeout=30).start()
    res = await sipp("uac_call", remote=("127.0.0.1", sip_port), local_ip=CARRIER_IP,
                     service="100", calls=20, rate=20, limit=10, keys={"hold_ms": 200},
                     timeout=30).run()
    assert res.ok and res.successful == 20 and res.failed == 0, res.summary()
    p = await phone.wait()
    assert p.ok and p.successful == 20, p.summary()
    assert len(p.received("INVITE")) == 20
