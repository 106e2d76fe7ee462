"""Render the Asterisk configuration of a deployment from the package's templates.

Every ``ivr/asterisk/templates/*.conf.tmpl`` becomes one file (package data, read with
:mod:`importlib.resources`, so an installed package renders without the repository). Templates
use ``{{ name }}`` placeholders (Asterisk's own ``${…}`` passes through untouched); a line
``{{ include extensions/menu.tmpl }}`` is replaced by that fragment (one level, each fragment
once), which is how the dialplan is kept as one fragment per feature. Everything the templates
need is plain data in :class:`RenderInput`, built from the database by
:func:`ivr.directory.asterisk_input.load_render_input`,
so rendering itself is pure and testable.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from ivr import __version__
from ivr.core.config import Config
from ivr.core.config_announce import NUMBER_MAX, QUEUE_SOUNDS, PoolAnnounce
from ivr.core.constants import LANGUAGES, QUEUE_STRATEGIES
from ivr.core.errors import UnrenderableConfig
from ivr.core.mirror import NUMBER_FORMAT
from ivr.core.names import CONTACT_RE, ENDPOINT_RE
from ivr.core.policy import default_plan
from ivr.core.sipauth import SIP_REALM, is_ha1

TEMPLATE_DIR: Traversable = files("ivr.asterisk") / "templates"
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_INCLUDE = re.compile(r"^\{\{\s*include\s+([a-z0-9_-]+(?:/[a-z0-9_-]+)*\.tmpl)\s*\}\}\n", re.M)
AGI_LIMIT = 1.5  # seconds a call may wait for the controller before the mirror takes over
FEATURE_LIMIT = 6  # seconds a feature code waits for the controller (its answer limit is 5 s)


# The deployment cannot be rendered into a valid Asterisk configuration: a 400 where a request
# caused it, logged where a resync met it (one class per error_id: this is that class).
RenderError = UnrenderableConfig


@dataclass(frozen=True, slots=True)
class Phone:
    """A SIP phone: an official's device or an operator's phone."""
    endpoint: str
    ha1: str  # digest HA1 of its password (ivr/core/sipauth.py)
    static_contact: str | None = None


@dataclass(frozen=True, slots=True)
class QueueDef:
    name: str  # queue name, "pool-<pool>"
    strategy: str = "leastrecent"
    ring_seconds: int = 15  # how long each operator rings before the next is tried
    announce: PoolAnnounce = PoolAnnounce(False, False)  # what a waiting caller hears


@dataclass(frozen=True, slots=True)
class RenderInput:
    config: Config
    phones: tuple[Phone, ...] = ()
    queues: tuple[QueueDef, ...] = ()
    # the city timezone (the database's setting); empty: the config's seed value
    timezone: str = ""
    banned: tuple[str, ...] = ()  # source addresses refused by PJSIP (ivr/sipguard)


# The caller ID is the caller's (the SIP From user, the Diversion header): it may hold anything,
# CR LF included, and Asterisk copies it unescaped into every AMI event and the FastAGI request.
# So the first priority of a call entering the route keeps the original URI-encoded (carried
# only as caller_raw= in IVR_CALL) and its digits and + alone; ivr-route's first MSet then
# overwrites every caller field with that safe form, before any CEL event, AGI or Dial
# (extensions/route.tmpl; docs/architecture.md, "Call events"). MSet: several variables in one
# priority (Asterisk's cost is per priority). Its arguments are split after substitution, so only
# safe text comes first: the dialed digits and + (the pattern matched them), the filtered digits;
# the URI-encoded original (which may keep ( ) ' ! * ~) is always the last pair.
CALLER_PROLOGUE = (
    "MSet(__IVR_DIALED=${EXTEN},"
    # the mirror's key: the dialed digits without + and without a leading 00 (after the +): how
    # many characters to drop, the pattern knows (KEY_PREFIXES), so the call evaluates nothing
    "IVR_KEY=${EXTEN:{drop}},"
    "IVR_CALLER=${FILTER(0-9+,${CALLERID(num)})},"
    "IVR_CALLER_RAW=${URIENCODE(${CALLERID(num)})})")

# The entry's MSet into ivr-route reads the number's route too (route.tmpl `s`): the mirror's
# value, by the same key (the pattern knows how many characters to drop), one priority fewer than
# a Set of its own. Quoted: the official's name in it may hold commas (MSet takes the quotes off);
# before the URI-encoded original, which stays the last pair.
ROUTE_READ = 'IVR_NUM="${DB(ivr/${IVR_NUM_KEYS}/${EXTEN:{drop}})}",'

# A published number's dialed prefixes and how many characters the mirror's key drops: Asterisk
# takes the most specific pattern that matches (a literal before X), so +00… is not taken by +X….
KEY_PREFIXES = (("+00", 3), ("+", 1), ("00", 2), ("", 0))


# Where the executor goes with the step it has just read (IVR_KIND …): the number's DTMF menu
# first (before step 1); no step left: done; a kind without its context is skipped, and so is an
# official away (meeting, leave, dnd, by the mirror's availability) for a direct step and a
# deputy away for a deputy step; a direct or deputy step is dialled by the executor itself; any
# other kind runs in a Gosub. The executor's `next` (extensions/executor.tmpl): a computed Goto,
# one priority. The usual call does not evaluate it: the controller writes the label of step 1
# into the number's mirror value (ivr/core/mirror.py first_step, the same rules).
STEP_LABEL = (
    '${IF($["${IVR_MENU}" = "1"]?menu:${IF($["${IVR_KIND}" = ""]?done:'
    '${IF($[${DIALPLAN_EXISTS(ivr-step-${IVR_KIND},s,1)} = 0'
    ' | ("${IVR_KIND}" = "direct" & "${IVR_AWAY}" = "1")'
    ' | ("${IVR_KIND}" = "deputy" & "${IVR_DEP_AWAY}" = "1")]?next:'
    '${IF($["${IVR_KIND}" = "direct" | "${IVR_KIND}" = "deputy"]?dial:step)})})})}')

# What only the usual call's steps after the first need from the number's value (the executor's
# `fill`, extensions/executor.tmpl): the plan (IVR_FLAT, fields 14-), who is away (6, 7) and step
# 1's own timeout (16). The route's MSet leaves them out: an answered step 1 never reads them.
FILL = ("IVR_FLAT=${CUT(IVR_NUM,^,14-)},IVR_AWAY=${CUT(IVR_NUM,^,6)},"
        "IVR_DEP_AWAY=${CUT(IVR_NUM,^,7)},IVR_TMO=${CUT(IVR_NUM,^,16)}")


def published_patterns(target: str = "ivr-route", sanitize: bool = True) -> str:
    """Extension patterns for every length 3..20 where every character is ``+`` or a digit.

    ``sanitize``: the caller's ID is captured and made safe first (:data:`CALLER_PROLOGUE`), one
    pattern per length and prefix of :data:`KEY_PREFIXES`; else one per length."""
    if not sanitize:  # the prologue sets IVR_DIALED too
        return "\n".join(f"exten => _[+0-9]{'X' * (n - 1)},1,Set(IVR_DIALED=${{EXTEN}})\n"
                         f" same => n,Goto({target},s,1)" for n in range(3, 21))
    raw = CALLER_PROLOGUE.index("IVR_CALLER_RAW=")
    entry = CALLER_PROLOGUE[:raw] + ROUTE_READ + CALLER_PROLOGUE[raw:] \
        if target == "ivr-route" else CALLER_PROLOGUE
    return "\n".join(
        f"exten => _{prefix}{'X' * (n - len(prefix))},1,"
        f"{entry.replace('{drop}', str(drop))}\n same => n,Goto({target},s,1)"
        for n in range(3, 21) for prefix, drop in KEY_PREFIXES)


def outbound_patterns(target: str = "ivr-callback-run") -> str:
    return published_patterns(target, sanitize=False)


def _phone_section(p: Phone) -> str:
    if not ENDPOINT_RE.fullmatch(p.endpoint):
        raise RenderError(f"endpoint name {p.endpoint!r} is not valid")
    if not is_ha1(p.ha1):
        raise RenderError(f"endpoint {p.endpoint!r} has no usable credentials (digest HA1)")
    contact = ""
    if p.static_contact:
        if not CONTACT_RE.fullmatch(p.static_contact):
            raise RenderError(f"static contact {p.static_contact!r} of {p.endpoint!r} is malformed")
        contact = f"contact = {p.static_contact}\n"
    return (f"[{p.endpoint}](ivr-media)\ncontext = ivr-phones\nauth = {p.endpoint}\n"
            f"aors = {p.endpoint}\n\n"
            f"[{p.endpoint}]\ntype = auth\nauth_type = md5\nusername = {p.endpoint}\n"
            f"realm = {SIP_REALM}\nmd5_cred = {p.ha1}\n\n"
            f"[{p.endpoint}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n{contact}")


def banned_acl(addresses: tuple[str, ...]) -> str:
    """The ``ivr-bans`` ACL: everyone, then each banned address (the last matching rule wins)."""
    lines = ["permit = 0.0.0.0/0.0.0.0", "permit = ::/0"]
    for a in addresses:
        try:
            net = ipaddress.ip_network(a)
        except ValueError:
            raise RenderError(f"banned address {a!r} is not an address or subnet") from None
        lines.append(f"deny = {net}")
    return "\n".join(lines) + "\n"


def announce_lines(a: PoolAnnounce, prompts_dir: str) -> str:
    """app_queue's announcements to a waiting caller (issue 15, docs/decisions.md): position
    and expected wait every ``a.every`` s, and not more often when the position changes
    (min-announce-frequency: a hand-over moves every caller up at once); numbers by say.conf.
    The sounds are paths without a language: Asterisk inserts the channel's (zh/en/ko)."""
    if not a.enabled:
        return "announce-position = no\nannounce-holdtime = no\nannounce-frequency = 0\n"
    sounds = "".join(f"{k} = {prompts_dir}/{v}\n" for k, v in QUEUE_SOUNDS.items())
    return (f"announce-position = {'limit' if a.position else 'no'}\n"
            f"announce-position-limit = {NUMBER_MAX}\n"
            f"announce-holdtime = {'yes' if a.holdtime else 'no'}\n"
            f"announce-frequency = {a.every}\nmin-announce-frequency = {a.every}\n"
            "announce-round-seconds = 0\nannounce-to-first-user = no\n"
            f"{sounds}queue-thankyou =\n")


def say_rules(prompts_dir: str) -> str:
    """say.conf's number rules (mode new: app_playback's say.conf replaces Asterisk's number
    reading): 1..99 are our own prompts ivr-num-<n>, in the channel's language; more: ivr-num-more.
    Rules are tried in order, so the catch-all comes last."""
    if len(prompts_dir) > 100 or not re.fullmatch(r"/[A-Za-z0-9_./-]+", prompts_dir):
        raise RenderError(f"prompts folder {prompts_dir!r}: an absolute path of at most 100 "
                          "letters, digits and _ . / - (say.conf's file names are short)")
    rules = (f"_[n]um:[1-9] => {prompts_dir}/ivr-num-${{SAY}}\n"
             f"_[n]um:[1-9]X => {prompts_dir}/ivr-num-${{SAY}}\n"
             f"_[n]um:. => {prompts_dir}/ivr-num-more\n")
    return "".join(f"[{lang}]\n{rules}\n" for lang in LANGUAGES)


def _queue_section(q: QueueDef, prompts_dir: str) -> str:
    if q.strategy not in QUEUE_STRATEGIES:
        raise RenderError(f"queue {q.name}: unknown strategy {q.strategy!r}")
    # One call per operator without idle gaps (issue 16, bench/bench_pool.py, decisions.md):
    # retry 1 s is app_queue's floor (0 falls back to 5 s); no wrap-up, no member delay; every
    # caller at the head of the queue is offered at once (autofill); ringinuse=no: an operator on
    # any call is never rung; no announcements that would hold a caller's channel while an
    # operator frees up (the position announcements are the exception: announce_lines);
    # servicelevel 20: QueueStatus's figure is "answered within 20 s".
    return (f"[{q.name}]\nstrategy = {q.strategy}\ntimeout = {q.ring_seconds}\nretry = 1\n"
            "wrapuptime = 0\nmemberdelay = 0\nautofill = yes\nringinuse = no\n"
            f"{announce_lines(q.announce, prompts_dir)}periodic-announce-frequency = 0\n"
            "servicelevel = 20\n"
            "joinempty = paused,unavailable,invalid,unknown\n"
            "leavewhenempty = paused,unavailable,invalid,unknown\n")


def template_values(inp: RenderInput) -> dict[str, str]:
    c = inp.config
    if not c.ami.secret:
        raise RenderError("ami_secret is empty: run `ivr init` or set IVR_AMI_SECRET (one per deployment)")
    names = [p.endpoint for p in inp.phones]
    dupes = {n for n in names if names.count(n) > 1} | ({"carrier"} & set(names))
    if dupes:
        raise RenderError(f"endpoint names used twice: {', '.join(sorted(dupes))}")
    default_queue = f"pool-{c.routing.default_pool}"
    return {
        "generated": f"ivr {__version__}",  # no timestamp: unchanged input, unchanged file
        "agi_host": c.agi.host, "agi_port": str(c.agi.port), "agi_limit": str(AGI_LIMIT),
        "route_live": "1" if c.agi.route_live else "0",
        "num_keys": "num-live" if c.agi.route_live else "num",  # num-live: none (route.tmpl)
        "feature_limit": str(FEATURE_LIMIT),
        "default_plan": default_plan(default_queue),
        "timezone": inp.timezone or c.database.timezone, "default_language": c.routing.default_language,
        "confirm_window": str(c.routing.confirm_window),
        "voicemail_dir": c.voicemail_dir_inside, "prompts_dir": c.prompts_dir_inside,
        "step_label": STEP_LABEL, "number_format": NUMBER_FORMAT, "fill": FILL,
        "published_patterns": published_patterns(), "outbound_patterns": outbound_patterns(),
        "callback_max_seconds": str(c.outbound.callback_max_seconds),
        "survey_patterns": outbound_patterns("ivr-survey-run"),
        "survey_max_seconds": str(c.outbound.survey_max_seconds),
        "testcall_ack_seconds": str(c.testcalls.ack_seconds),
        "testcall_max_seconds": str(c.testcalls.max_seconds),
        "qcb_offer_seconds": str(int(c.autocallback.queue_offer_seconds)),
        "sip_host": c.sip.host, "sip_port": str(c.sip.port), "media_address": c.sip.media_address,
        "carrier_host": c.carrier.host, "carrier_port": str(c.carrier.port),
        "carrier_match": ", ".join(c.carrier.match), "banned_acl": banned_acl(inp.banned),
        "phone_endpoints": "\n".join(_phone_section(p) for p in inp.phones),
        "queues": "\n".join(_queue_section(q, c.prompts_dir_inside) for q in inp.queues),
        "say_rules": say_rules(c.prompts_dir_inside),
        "ami_host": c.ami.host, "ami_port": str(c.ami.port), "ami_user": c.ami.user,
        "ami_secret": c.ami.secret,
        "rtp_start": str(c.sip.rtp_start), "rtp_end": str(c.sip.rtp_end),
    }


def render_text(template: str, values: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise RenderError(f"template needs {key!r}")
        return values[key]
    return _PLACEHOLDER.sub(sub, template)


def _resolve(template_dir: Traversable | Path, relpath: str) -> Traversable | Path:
    node = template_dir
    for part in relpath.split("/"):
        node = node / part
    return node


def expand_includes(text: str, template_dir: Traversable | Path) -> str:
    """Replace each ``{{ include <path> }}`` line by the fragment at ``<path>``."""
    seen: set[str] = set()

    def sub(m: re.Match[str]) -> str:
        relpath = m.group(1)
        if relpath in seen:
            raise RenderError(f"fragment {relpath} is included twice")
        seen.add(relpath)
        fragment = _resolve(template_dir, relpath)
        if not fragment.is_file():
            raise RenderError(f"included fragment {relpath} is missing")
        body = fragment.read_text(encoding="utf-8")
        if _INCLUDE.search(body):
            raise RenderError(f"fragment {relpath} includes another (one level only)")
        return body if body.endswith("\n") else body + "\n"
    return _INCLUDE.sub(sub, text)


def template_names(template_dir: Traversable | Path = TEMPLATE_DIR) -> list[str]:
    """The files rendered: one per ``*.conf.tmpl`` at the top of ``template_dir``."""
    names = sorted(t.name for t in template_dir.iterdir()
                   if t.is_file() and t.name.endswith(".conf.tmpl"))
    if not names:
        raise RenderError(f"no *.conf.tmpl templates in {template_dir}: is the package installed "
                          "with its data files?")
    return names


def render_all(inp: RenderInput, template_dir: Traversable | Path = TEMPLATE_DIR) -> dict[str, str]:
    """``{file name: text}`` of every Asterisk config file of the deployment."""
    values = template_values(inp)
    out = {}
    for name in template_names(template_dir):
        text = expand_includes((template_dir / name).read_text(encoding="utf-8"), template_dir)
        out[name.removesuffix(".tmpl")] = render_text(text, values)
    return out


# Files that follow the directory (phones, pools), and the module that rereads each.
RELOADABLE = {"pjsip.conf": "res_pjsip.so", "queues.conf": "app_queue.so"}


CONFIG_MODE = 0o640  # the AMI secret, phones' HA1s: owner and Asterisk's group only


def write_all(files: Mapping[str, str], dest: Path, only: set[str] | None = None) -> list[str]:
    """Write the files whose content changed (atomically); return their names. Every file is
    mode 0640 with the group of ``dest`` (give the folder Asterisk's group: docs/deploy.md),
    whoever writes it and whatever the umask; an unchanged file is only given that mode."""
    dest.mkdir(parents=True, exist_ok=True)
    group = dest.stat().st_gid
    changed = []
    for name, text in files.items():
        if only is not None and name not in only:
            continue
        target = dest / name
        if target.exists() and target.read_text(encoding="utf-8") == text:
            target.chmod(CONFIG_MODE)
            continue
        tmp = dest / f".{name}.tmp"
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, CONFIG_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            with contextlib.suppress(PermissionError):  # not root and not in that group
                os.fchown(fh.fileno(), -1, group)
            os.fchmod(fh.fileno(), CONFIG_MODE)
            fh.write(text)
        tmp.replace(target)
        changed.append(name)
    return changed
