"""Rendering the Asterisk configuration (ivr/asterisk/render.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ivr.asterisk.render import (
    FILL,
    TEMPLATE_DIR,
    Phone,
    QueueDef,
    RenderError,
    RenderInput,
    expand_includes,
    outbound_patterns,
    published_patterns,
    render_all,
    render_text,
    template_names,
    template_values,
    write_all,
)
from ivr.core.config import Config
from ivr.core.constants import QUEUE_STRATEGIES as STRATEGIES
from ivr.core.mirror import DIALPLAN_STEP_KINDS, NUMBER_FORMAT, RouteRecord, number_entries

CONFIG = Config.build(ami={"secret": "a" * 32, "port": 5999}, agi={"port": 4999},
                      database={"timezone": "Asia/Shanghai"}, routing={"default_pool": "main"})


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """An Asterisk extension pattern (``_`` prefix, ``X``, ``[...]``) as a regex."""
    assert pattern.startswith("_")
    out, i = "", 1
    while i < len(pattern):
        c = pattern[i]
        if c == "X":
            out += "[0-9]"
        elif c == "[":
            j = pattern.index("]", i)
            out += "[" + pattern[i + 1:j].replace("+", r"\+") + "]"
            i = j
        else:
            assert c.isdigit() or c == "+", f"unexpected pattern character {c!r} in {pattern}"
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


def _patterns(text: str) -> list[str]:
    return re.findall(r"^exten => (\S+?),1,", text, flags=re.M)


def _chosen(pats: list[str], s: str) -> str | None:
    """The pattern Asterisk takes for ``s``: of those that match, the most specific (compared
    character by character, a literal before a class)."""
    matching = [p for p in pats if _pattern_regex(p).match(s)]
    return max(matching, key=lambda p: [c not in "X[" for c in p], default=None)


def test_published_patterns_cover_3_to_20_plus_and_digits() -> None:
    """Every string of + (first) and digits, 3 to 20 long, and nothing else; the pattern taken
    gives the mirror's key: without +, without 00 after it, without a leading 00."""
    text = published_patterns()
    pats = _patterns(text)
    assert len(pats) == 18 * 4
    drop = {p: int(re.search(rf"^exten => {re.escape(p)},1,MSet\(__IVR_DIALED=\$\{{EXTEN\}},"
                             r"IVR_KEY=\$\{EXTEN:(\d)\},", text, re.M).group(1))  # type: ignore[union-attr]
            for p in pats}

    def key(s: str) -> str | None:
        p = _chosen(pats, s)
        return None if p is None else s[drop[p]:]

    for n in range(3, 21):
        assert key("1" * n) == "1" * n, n
        assert key("+" + "8" * (n - 1)) == "8" * (n - 1), n
        assert key("0" * n) == "0" * (n - 2), n
        assert key("+" + "0" * (n - 1)) == "0" * (n - 3), n
    for s in ["12", "+1", "1" * 21, "+" + "1" * 20, "", "abc", "123a", "12*34", "12#", "1+23",
              "++123", " 123", "1 23"]:
        assert key(s) is None, s
    assert key("05585551001") == "05585551001" and key("13800001111") == "13800001111"
    assert key("+865585551001") == key("00865585551001") == key("+00865585551001") == "865585551001"
    assert text.count("Goto(ivr-route,s,1)") == 18 * 4
    assert "$[" not in text  # the key without an expression: the pattern knows the prefix


def test_patterns_target() -> None:
    assert published_patterns("elsewhere").count("Goto(elsewhere,s,1)") == 18 * 4
    assert "ivr-route" not in outbound_patterns()
    out, pub = _patterns(outbound_patterns()), _patterns(published_patterns())
    for s in ["123", "+8613800001111", "0086" + "1" * 16, "1" * 21, "12#", "+", "1+2"]:
        assert (_chosen(out, s) is None) == (_chosen(pub, s) is None), s


def test_render_all_fills_every_placeholder() -> None:
    inp = RenderInput(CONFIG, phones=(Phone("o-zhang", "1" * 32, "sip:o-zhang@127.0.0.1:5091"),
                                      Phone("op-1", "2" * 32)),
                      queues=(QueueDef("pool-main"), QueueDef("pool-night", "ringall", 20)),
                      banned=("192.0.2.7", "2001:db8::1"))
    files = render_all(inp)
    templates = sorted(name.removesuffix(".tmpl") for name in template_names())
    assert len(templates) == 17 and sorted(files) == templates
    assert "extensions.conf" in files and "pjsip.conf" in files
    for name, text in files.items():
        assert "{{" not in text and "}}" not in text, name
    assert "a" * 32 in files["manager.conf"]
    assert "4999" in files["extensions.conf"]
    assert "pool^pool-main^60|message^ivr-unavailable^0" in files["extensions.conf"]
    pj = files["pjsip.conf"]
    assert "[o-zhang](ivr-media)" in pj and "md5_cred = " + "1" * 32 in pj
    assert "auth_type = md5\nusername = o-zhang\nrealm = ivr\n" in pj and "password =" not in pj
    # the carrier by its address only; banned sources denied after everyone is permitted
    assert "[carrier](ivr-media)\ncontext = ivr-citizens\n" in pj and "identify_by = ip\n" in pj
    assert ("type = acl\npermit = 0.0.0.0/0.0.0.0\npermit = ::/0\ndeny = 192.0.2.7/32\n"
            "deny = 2001:db8::1/128\n") in pj
    assert "contact = sip:o-zhang@127.0.0.1:5091" in pj
    assert "[op-1]" in pj and "contact = sip:op-1" not in pj
    q = files["queues.conf"]
    assert "[pool-night]\nstrategy = ringall\ntimeout = 20" in q and "[pool-main]" in q
    # same input, same output (no timestamps): re-rendering changes no file
    assert render_all(inp) == files


def test_render_values_reach_a_template(tmp_path: Path) -> None:
    values = template_values(RenderInput(CONFIG))
    (tmp_path / "a.conf.tmpl").write_text(
        "secret={{ami_secret}} tz={{  timezone }} pass ${EXTEN} {{ agi_port }}\n", encoding="utf-8")
    (tmp_path / "ignored.txt").write_text("{{ nope }}", encoding="utf-8")
    files = render_all(RenderInput(CONFIG), tmp_path)
    assert files == {"a.conf": f"secret={'a' * 32} tz=Asia/Shanghai pass ${{EXTEN}} 4999\n"}
    assert values["default_plan"] == "pool^pool-main^60|message^ivr-unavailable^0"


def test_unknown_placeholder() -> None:
    with pytest.raises(RenderError, match="nope"):
        render_text("x {{ nope }} y", {"a": "1"})
    assert render_text("x {{ a }} {{a}} {{ A }}", {"a": "1"}) == "x 1 1 {{ A }}"


def test_missing_ami_secret() -> None:
    with pytest.raises(RenderError, match="ami_secret"):
        template_values(RenderInput(Config.build(ami={"secret": ""})))
    with pytest.raises(RenderError):
        render_all(RenderInput(Config()))


@pytest.mark.parametrize("name", ["", "a", "O-zhang", "-abc", "_abc", "o zhang", "o.zhang", "o/zhang",
                                  "o;x", "o]x", "张三", "x" * 40])
def test_bad_endpoint_names(name: str) -> None:
    with pytest.raises(RenderError):
        render_all(RenderInput(CONFIG, phones=(Phone(name, "a" * 32),)))


BUG_DOLLAR = ("BUG: render.py _NAME_RE / _CONTACT_RE end with `$`, which also matches before a "
              "trailing newline, so a value ending in \\n passes and is written into pjsip.conf")


def test_endpoint_name_with_trailing_newline() -> None:
    with pytest.raises(RenderError):
        render_all(RenderInput(CONFIG, phones=(Phone("o-zhang\n", "a" * 32),)))


def test_static_contact_with_trailing_newline() -> None:
    with pytest.raises(RenderError):
        render_all(RenderInput(CONFIG, phones=(Phone("op-1", "a" * 32, "sip:op-1@127.0.0.1\n"),)))


@pytest.mark.parametrize("name", ["ab", "o-zhang", "op_1", "0abc", "x" * 39])
def test_good_endpoint_names(name: str) -> None:
    files = render_all(RenderInput(CONFIG, phones=(Phone(name, "a" * 32),)))
    assert f"[{name}](ivr-media)" in files["pjsip.conf"]


@pytest.mark.parametrize("secret", ["", "a;b", "a\nb", "a[b", "a]b", "a\rb", "a" * 31, "A" * 32,
                                    "a" * 31 + "\n", "plain-password-of-30-characters"])
def test_bad_secret(secret: str) -> None:
    with pytest.raises(RenderError):
        render_all(RenderInput(CONFIG, phones=(Phone("o-a", secret),)))


def test_duplicate_endpoints() -> None:
    with pytest.raises(RenderError, match="o-a"):
        template_values(RenderInput(CONFIG, phones=(Phone("o-a", "c" * 32), Phone("o-b", "d" * 32),
                                                    Phone("o-a", "e" * 32))))
    with pytest.raises(RenderError, match="carrier"):
        template_values(RenderInput(CONFIG, phones=(Phone("carrier", "c" * 32),)))


@pytest.mark.parametrize("contact", ["op-1@127.0.0.1", "sip:op-1@127.0.0.1:5081;transport=tcp",
                                     "sip:op 1@127.0.0.1", "sip:@127.0.0.1", "sip:op-1@",
                                     "sip:op-1@127.0.0.1:123456", "sip:op-1@127.0.0.1\ncontext=x"])
def test_bad_static_contact(contact: str) -> None:
    with pytest.raises(RenderError, match="contact"):
        render_all(RenderInput(CONFIG, phones=(Phone("op-1", "c" * 32, contact),)))


@pytest.mark.parametrize("contact", ["sip:op-1@127.0.0.1", "sip:op-1@127.0.0.1:5081",
                                     "sip:13800000000@pbx.example.cn:5060"])
def test_good_static_contact(contact: str) -> None:
    files = render_all(RenderInput(CONFIG, phones=(Phone("op-1", "c" * 32, contact),)))
    assert f"contact = {contact}\n" in files["pjsip.conf"]


def test_bad_queue_strategy() -> None:
    with pytest.raises(RenderError, match="strategy"):
        render_all(RenderInput(CONFIG, queues=(QueueDef("pool-main", "roundrobin"),)))


def test_write_all_writes_only_changed(tmp_path: Path) -> None:
    dest = tmp_path / "etc"
    files = {"a.conf": "A\n", "b.conf": "B 张三\n"}
    assert sorted(write_all(files, dest)) == ["a.conf", "b.conf"]
    assert (dest / "b.conf").read_text(encoding="utf-8") == "B 张三\n"
    stamp = (dest / "a.conf").stat().st_mtime_ns
    os.utime(dest / "a.conf", ns=(stamp - 10**9, stamp - 10**9))
    assert write_all(files, dest) == []
    assert (dest / "a.conf").stat().st_mtime_ns == stamp - 10**9  # untouched
    assert write_all({"a.conf": "A2\n", "b.conf": "B 张三\n"}, dest) == ["a.conf"]
    assert (dest / "a.conf").read_text() == "A2\n"
    assert not list(dest.glob(".*.tmp"))
    # only: the others are not written even if changed
    assert write_all({"a.conf": "A3\n", "b.conf": "B3\n"}, dest, only={"b.conf"}) == ["b.conf"]
    assert (dest / "a.conf").read_text() == "A2\n" and (dest / "b.conf").read_text() == "B3\n"
    # a file written by hand is replaced
    (dest / "b.conf").write_text("edited", encoding="utf-8")
    assert write_all({"b.conf": "B3\n"}, dest) == ["b.conf"]


@pytest.mark.parametrize("contact", ["sips:op-1@127.0.0.1:5061", "sip:op-1@[::1]:5060",
                                     "sip:+8613800001111@127.0.0.1"])
async def test_contact_accepted_by_import_renders(tmp_path: Path, contact: str) -> None:
    from ivr.db.models import Base
    from ivr.db.session import create_engine, make_sessionmaker
    from ivr.directory.asterisk_input import load_render_input
    from ivr.directory.importer import import_text

    config = Config.build(database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"}, ami={"secret": "a" * 32})
    engine = create_engine(config)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        db = make_sessionmaker(engine)
        await import_text(db, "pools: [{name: main}]\noperators: [{name: x, endpoint: op-1, pool: main, "
                          f'static_contact: "{contact}"}}]\n', "yaml", "tester")
        files = render_all(await load_render_input(db, config))
        assert f"contact = {contact}" in files["pjsip.conf"]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_the_directory_accepts_renders(strategy: str) -> None:
    # one list (ivr.directory.validate.STRATEGIES) for the import, the API and queues.conf
    files = render_all(RenderInput(CONFIG, queues=(QueueDef("pool-main", strategy),)))
    assert f"[pool-main]\nstrategy = {strategy}\n" in files["queues.conf"]


async def test_pool_created_with_rrordered_renders(tmp_path: Path) -> None:
    """A pool the services accept renders (it used to be committed, then fail every render)."""
    from ivr.db.models import Base
    from ivr.db.session import create_engine, make_sessionmaker
    from ivr.directory.asterisk_input import load_render_input
    from ivr.directory.importer import import_text
    from ivr.directory.services import create_pool

    config = Config.build(database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"}, ami={"secret": "a" * 32})
    engine = create_engine(config)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        db = make_sessionmaker(engine)
        await create_pool(db, "night", "tester", strategy="rrordered")
        await import_text(db, "pools: [{name: day, strategy: rrordered}]\n", "yaml", "tester")
        files = render_all(await load_render_input(db, config))
        assert "[pool-night]\nstrategy = rrordered\n" in files["queues.conf"]
        assert "[pool-day]\nstrategy = rrordered\n" in files["queues.conf"]
    finally:
        await engine.dispose()


def test_every_dialplan_fragment_is_included_once() -> None:
    """A fragment added to templates/extensions/ but not included would silently not be rendered."""
    fragments = sorted(t.name for t in (TEMPLATE_DIR / "extensions").iterdir() if t.name.endswith(".tmpl"))
    main = (TEMPLATE_DIR / "extensions.conf.tmpl").read_text(encoding="utf-8")
    included = re.findall(r"^\{\{ include extensions/(\S+) \}\}$", main, flags=re.M)
    assert sorted(included) == fragments and len(fragments) >= 8
    text = render_all(RenderInput(CONFIG))["extensions.conf"]
    assert "{{" not in text
    for name in fragments:  # each fragment's first context or extension is in the rendered file
        body = (TEMPLATE_DIR / "extensions" / name).read_text(encoding="utf-8")
        first = next(line for line in body.splitlines() if line.startswith(("[", "exten")))
        assert first in text or "{{" in first, (name, first)


def test_includes(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "a.tmpl").write_text("[a]\nexten => s,1,NoOp({{ agi_port }})", encoding="utf-8")
    (tmp_path / "parts" / "b.tmpl").write_text("{{ include parts/a.tmpl }}\n", encoding="utf-8")
    (tmp_path / "x.conf.tmpl").write_text("; head\n{{ include parts/a.tmpl }}\n; tail\n", encoding="utf-8")
    files = render_all(RenderInput(CONFIG), tmp_path)
    assert files == {"x.conf": "; head\n[a]\nexten => s,1,NoOp(4999)\n; tail\n"}  # a.tmpl: no .conf
    with pytest.raises(RenderError, match="missing"):
        expand_includes("{{ include parts/nope.tmpl }}\n", tmp_path)
    with pytest.raises(RenderError, match="twice"):
        expand_includes("{{ include parts/a.tmpl }}\n{{ include parts/a.tmpl }}\n", tmp_path)
    with pytest.raises(RenderError, match="one level"):
        expand_includes("{{ include parts/b.tmpl }}\n", tmp_path)
    # not on a line of its own, or a path leaving the folder: not an include (then an unknown
    # placeholder, refused by render_text)
    for text in ("x {{ include parts/a.tmpl }}\n", "{{ include ../a.tmpl }}\n"):
        assert expand_includes(text, tmp_path) == text


def test_no_template_folder(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="no \\*.conf.tmpl"):
        render_all(RenderInput(CONFIG), tmp_path)


def _usual_call(ext: str) -> tuple[list[str], list[str]]:
    """The route's `s` priorities, and the executor's from `fdial` to its Dial."""
    route = ext[ext.index("exten => s,1,MSet(CALLERID(all)="):ext.index("exten => slow,1")]
    prios = [ln for ln in route.splitlines() if ln.startswith(("exten =>", " same =>"))]
    run = [ln for ln in ext[ext.index(" same => n(fdial),"):].splitlines()
           if ln.startswith(" same =>")]
    return prios, run[:3]


def test_usual_call_reaches_its_dial_in_few_priorities() -> None:
    """Issue 16: Asterisk's cost is per priority, and ~25 us per expression. The usual call (a
    route in force in num/<digits>) has its value read by the entry's MSet, sets step 1 in `s`
    (one MSet, no expression), then goes where the value says: for a direct step `fdial`
    (IVR_ROUTE), falling through to `dial` (IVR_STEP, then the Dial), no Gosub, no Goto."""
    ext = render_all(RenderInput(CONFIG))["extensions.conf"]
    prios, fdial = _usual_call(ext)
    assert [p.split(",", 2)[1 if p.startswith(" same") else 2].split("(")[0] for p in prios] == [
        "MSet", "CELGenUserEvent", "GotoIf"]
    mset = prios[0]
    # the caller's ID made safe first, before the first event (IVR_CALL)
    assert mset.startswith("exten => s,1,MSet(CALLERID(all)=${IVR_CALLER:0:20} <${IVR_CALLER:0:20}>,"
                           "CALLERID(ani-all)=${IVR_CALLER:0:20} <${IVR_CALLER:0:20}>,"
                           "CALLERID(rdnis)=,IVR_CALLER=${IVR_CALLER:0:20},")
    assert mset.rstrip().endswith(',IVR_CALLER_RAW="${IVR_CALLER_RAW:0:240}",'
                                  'CALLERID(name)="${CUT(IVR_NUM,^,9)}/${IVR_CALLER:0:20}")')
    # no expression before the GotoIf: the controller resolved them (ivr/core/mirror.py)
    assert not any("$[" in p or "${IF(" in p for p in prios[:2]), prios[:2]
    # the value was read by the entry, by the key it sets (quoted, before the raw caller ID)
    for entry in re.findall(r"^exten => _[^,]+,1,(MSet\(.*\))$", published_patterns(), re.M):
        drop = re.search(r"IVR_KEY=\$\{EXTEN:(\d)\}", entry).group(1)  # type: ignore[union-attr]
        assert f',IVR_NUM="${{DB(ivr/${{IVR_NUM_KEYS}}/${{EXTEN:{drop}}})}}",IVR_CALLER_RAW=' \
            in entry, entry
        assert entry.index("IVR_CALLER_RAW=") > entry.index("IVR_NUM=")
    assert prios[2].endswith("?run,f${CUT(IVR_NUM,^,11)}:slow,1)")
    assert "src=mirror" in fdial[0] and fdial[0].startswith(" same => n(fdial),CELGenUserEvent(IVR_ROUTE,")
    # fdial falls through to `dial`
    assert fdial[1].startswith(" same => n(dial),CELGenUserEvent(IVR_STEP,") and \
        fdial[2] == " same => n,Dial(${IVR_TARGET},${IVR_DTMO})"
    # every other label the controller may write has its f-label: to `fany`, which sends the
    # same IVR_ROUTE, fills in the rest of the plan and goes to the value's label
    for label in ("menu", "done", "next", "step"):
        assert f" same => n(f{label}),Goto(fany)\n" in ext, label
    fany = ext[ext.index(" same => n(fany),"):].splitlines()[:3]
    assert fany[0].split(",", 1)[1] == fdial[0].split(",", 1)[1]
    assert fany[1:] == [f" same => n,MSet({FILL})", " same => n,Goto(${CUT(IVR_NUM,^,11)})"]
    # its end: `ended`'s event with the Dial's status, then done on an answer, else the next step
    # (after `fill` on the usual call, whose MSet left the rest of the plan out)
    dial = ext[ext.index(" same => n(dial),"):].splitlines()
    ended = ext[ext.index(" same => n(ended),"):].splitlines()[:2]
    assert dial[2] == ended[0].replace("n(ended),", "n,").replace("${IVR_STEP_RESULT}", "${DIALSTATUS}")
    assert dial[3] == (' same => n,GotoIf($["${DIALSTATUS}" = "ANSWER"]?done:'
                       '${IF($["${IVR_FLAT}" = ""]?fill:next)})')
    assert '"${IVR_STEP_RESULT}" = "ANSWER"' in ended[1] and ended[1].endswith("?done:next)")
    assert f" same => n(fill),MSet({FILL})\n same => n,Goto(next)" in ext
    assert ext.count(f"MSet({FILL})") == 2  # fany, fill
    assert re.search(r"\?dial:step\)", ext)


def test_usual_call_reads_the_fields_the_controller_writes() -> None:
    """The field numbers in the dialplan and the value ivr/core/mirror.py writes cannot drift
    apart: each CUT of the usual call, applied to a written value, gives what it stands for."""
    ext = render_all(RenderInput(CONFIG))["extensions.conf"]
    prios, fdial = _usual_call(ext)
    rec = RouteRecord("direct", "1790000000", True, False, "en", "甲", "direct^PJSIP/o-3^25|voicemail^3^120")
    fields = number_entries({"05585551001": 3}, None, {3: rec})["num/05585551001"].split("^")

    def cut(n: str) -> str:
        return "^".join(fields[int(n[:-1]) - 1:]) if n.endswith("-") else fields[int(n) - 1]
    read = {var: cut(n) for var, n in re.findall(r"(\w+)=\$\{CUT\(IVR_NUM,\^,(\d+-?)\)\}",
                                                 prios[0] + FILL)}
    assert read == {"__IVR_OFFICIAL": "3", "IVR_AWAY": "1",
                    "IVR_DEP_AWAY": "0", "__IVR_LANG": "en",
                    "IVR_FLAT": "direct^PJSIP/o-3^25^voicemail^3^120", "IVR_KIND": "direct",
                    "IVR_TARGET": "PJSIP/o-3", "IVR_TMO": "25", "IVR_DTMO": "25",
                    "__IVR_LEG_TMO": "25"}
    assert re.search(r'CALLERID\(name\)="\$\{CUT\(IVR_NUM,\^,(\d+)\)\}', prios[0]).group(1) == "9"  # type: ignore[union-attr]
    assert cut("9") == "甲"
    fmt, until = re.search(r'"\$\{CUT\(IVR_NUM,\^,(\d+)\)\}" = "(\d+)" & \("\$\{CUT\(IVR_NUM,\^,(\d+)\)\}"',
                           prios[2]).group(1, 3)  # type: ignore[union-attr]
    assert cut(fmt) == NUMBER_FORMAT and f'= "{NUMBER_FORMAT}"' in prios[2] and cut(until) == "1790000000"
    assert cut(re.search(r"f\$\{CUT\(IVR_NUM,\^,(\d+)\)\}", prios[2]).group(1)) == "next"  # type: ignore[union-attr]
    assert cut(re.search(r"mode=\$\{CUT\(IVR_NUM,\^,(\d+)\)\}", fdial[0]).group(1)) == "direct"  # type: ignore[union-attr]
    # the menu flag is not set: the label is `menu` when the number has one (first_step)
    assert "IVR_MENU" not in prios[0]


def test_step_kinds_the_controller_knows_are_the_dialplans() -> None:
    """first_step (ivr/core/mirror.py) skips a kind without a context, as STEP_LABEL does."""
    ext = render_all(RenderInput(CONFIG))["extensions.conf"]
    assert set(re.findall(r"^\[ivr-step-([a-z-]+)\]", ext, re.M)) == DIALPLAN_STEP_KINDS


def test_events_nobody_reads_are_not_raised() -> None:
    """manager.conf: the per-call events the controller's filter never passes are disabled;
    none that it passes is."""
    man = render_all(RenderInput(CONFIG))["manager.conf"]
    disabled = set(re.search(r"^disabledevents = (.+)$", man, re.M).group(1).split(","))  # type: ignore[union-attr]
    assert {"Newexten", "VarSet", "NewCallerid", "Newstate", "RTCPSent", "RTCPReceived"} <= disabled
    passed = re.search(r"^eventfilter = Event: \((.+)\)$", man, re.M).group(1)  # type: ignore[union-attr]
    assert not any(re.fullmatch(f"({passed}).*", ev) for ev in disabled)
