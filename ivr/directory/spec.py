"""Directory files (YAML or CSV) parsed and validated into plain data, before any DB access.

Errors name the offending place: ``officials[2](zhang-wei).numbers[0]`` in YAML, ``row 4
(zhang-wei), numbers[0]`` in CSV. The format is described in docs/directory.md.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ivr.core.constants import LANGUAGES
from ivr.core.errors import (
    InvalidChain,
    InvalidDirectory,
    InvalidEndpoint,
    InvalidSuperior,
    IvrError,
    MalformedNumber,
)
from ivr.core.names import SLUG_RE
from ivr.core.windows import WindowInput
from ivr.directory.validate import (
    CSV_COLUMNS,
    NAME_FORBIDDEN,
    Announce,
    check_announce,
    check_availability,
    check_bool,
    check_chain,
    check_contact,
    check_endpoint,
    check_mode,
    check_number,
    check_pool_name,
    check_ring_timeout,
    check_strategy,
    check_timezone,
    check_windows,
    int_field,
    pattern_field,
    text_field,
)
from ivr.speech import languages as speech_languages


@dataclass(frozen=True, slots=True)
class PoolSpec:
    name: str
    strategy: str = "leastrecent"
    max_wait: int = 60
    announce: Announce = (None, None, None)  # own (position, holdtime, every); None: [announce]


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    name: str
    endpoint: str
    pool: str
    static_contact: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    kind: str  # "sip" | "mobile"
    endpoint: str | None = None
    number: str | None = None
    static_contact: str | None = None
    confirm: bool = False  # the callee presses 1 first (default: mobiles yes, SIP phones no)


@dataclass(slots=True)
class OfficialSpec:
    """``given`` lists the optional keys the file set; the others keep their current value."""
    slug: str
    name: str
    where: str
    title: str = ""
    department: str = ""
    language: str = "zh"
    numbers: list[str] = field(default_factory=list)
    published: dict[str, str] = field(default_factory=dict)  # E.164 → the form as given
    devices: list[DeviceSpec] = field(default_factory=list)
    deputy: str | None = None
    superior: str | None = None  # escalation goes there (issue 11)
    mode: str = "direct"
    chain: list[str] | None = None
    ring_timeout: int = 20
    pool: str | None = None
    schedule: list[WindowInput] = field(default_factory=list)
    availability: str = "available"
    menu: bool = False  # a DTMF menu on the official's published numbers
    given: set[str] = field(default_factory=set)


@dataclass(slots=True)
class DirectorySpec:
    pools: list[PoolSpec] = field(default_factory=list)
    operators: list[OperatorSpec] = field(default_factory=list)
    officials: list[OfficialSpec] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


# --- format helpers ----------------------------------------------------------------------

def _mapping(value: Any, where: str, allowed: set[str], required: tuple[str, ...] = ()) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidDirectory("expected a mapping", where=where)
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise InvalidDirectory(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}",
                               where=where)
    for key in required:
        if value.get(key) in (None, ""):
            raise InvalidDirectory(f"{key} is required", where=where)
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidDirectory("expected a list", where=where)
    return value

# --- YAML ----------------------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """Safe loader without implicit int/float/timestamp: ``18:00`` would be 1080 (base 60),
    ``01012345670`` an octal int. Every plain scalar stays text except booleans and null."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag.rsplit(":", 1)[-1] in ("bool", "null")]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_POOL_KEYS = {"name", "strategy", "max_wait", "announce"}
_OPERATOR_KEYS = {"name", "endpoint", "pool", "static_contact"}
_OFFICIAL_KEYS = {"slug", "name", "title", "department", "language", "numbers", "devices", "deputy",
                  "superior", "mode", "chain", "ring_timeout", "pool", "schedule", "availability", "menu"}
_SETTINGS_KEYS = {"default_chain", "timezone"}


def _pool(raw: Any, where: str) -> PoolSpec:
    m = _mapping(raw, where, _POOL_KEYS, ("name",))
    strategy = m.get("strategy") or "leastrecent"
    return PoolSpec(check_pool_name(m["name"], f"{where}.name"),
                    check_strategy(strategy, f"{where}.strategy"),
                    int_field(m.get("max_wait", 60), f"{where}.max_wait", 5, 3600),
                    check_announce(m.get("announce"), f"{where}.announce"))


def _operator(raw: Any, where: str) -> OperatorSpec:
    m = _mapping(raw, where, _OPERATOR_KEYS, ("name", "endpoint", "pool"))
    return OperatorSpec(text_field(m["name"], f"{where}.name", max_len=80, forbidden=NAME_FORBIDDEN),
                        check_endpoint(m["endpoint"], f"{where}.endpoint"),
                        check_pool_name(m["pool"], f"{where}.pool"),
                        check_contact(m.get("static_contact"), f"{where}.static_contact"))


def _device(raw: Any, where: str) -> DeviceSpec:
    m = _mapping(raw, where, {"sip", "mobile", "static_contact", "confirm"})
    if ("sip" in m) == ("mobile" in m):
        raise InvalidDirectory("a device is either {sip: endpoint} or {mobile: number}", where=where)
    confirm = check_bool(m["confirm"], f"{where}.confirm") if "confirm" in m else "mobile" in m
    if "mobile" in m:
        if "static_contact" in m:
            raise InvalidDirectory("static_contact is for sip devices only", where=where)
        return DeviceSpec("mobile", number=check_number(m["mobile"], f"{where}.mobile"),
                          confirm=confirm)
    return DeviceSpec("sip", endpoint=check_endpoint(m["sip"], f"{where}.sip"),
                      static_contact=check_contact(m.get("static_contact"), f"{where}.static_contact"),
                      confirm=confirm)


def _official(raw: Any, where: str) -> OfficialSpec:
    m = _mapping(raw, where, _OFFICIAL_KEYS, ("slug", "name"))
    slug = pattern_field(m["slug"], f"{where}.slug", SLUG_RE, "slug")
    where = f"{where}({slug})"
    o = OfficialSpec(slug=slug, where=where,
                     name=text_field(m["name"], f"{where}.name", max_len=80, required=True,
                                forbidden=NAME_FORBIDDEN))
    o.given = {k for k in m if k not in ("slug", "name")}
    o.title = text_field(m.get("title"), f"{where}.title", max_len=80, forbidden=NAME_FORBIDDEN)
    o.department = text_field(m.get("department"), f"{where}.department", max_len=120)
    if "language" in m and m["language"] not in LANGUAGES:
        raise InvalidDirectory(f"language {m['language']!r}: expected one of {', '.join(LANGUAGES)}",
                               where=f"{where}.language")
    o.language = str(m.get("language") or "zh")
    if "menu" in m:
        o.menu = check_bool(m["menu"], f"{where}.menu")
    given = _list(m.get("numbers"), f"{where}.numbers")
    o.numbers = [check_number(n, f"{where}.numbers[{i}]") for i, n in enumerate(given)]
    o.published = {e164: published_form(raw) for e164, raw in zip(o.numbers, given, strict=True)}
    o.devices = [_device(d, f"{where}.devices[{i}]")
                 for i, d in enumerate(_list(m.get("devices"), f"{where}.devices"))]
    if m.get("deputy") is not None:
        o.deputy = pattern_field(m["deputy"], f"{where}.deputy", SLUG_RE, "slug")
        if o.deputy == slug:
            raise InvalidDirectory("an official cannot be their own deputy", where=f"{where}.deputy")
    if m.get("superior") is not None:
        o.superior = pattern_field(m["superior"], f"{where}.superior", SLUG_RE, "slug")
        if o.superior == slug:
            raise InvalidSuperior("an official cannot be their own superior",
                                  where=f"{where}.superior")
    if "mode" in m:
        o.mode = check_mode(m["mode"], f"{where}.mode")
    o.chain = check_chain(m.get("chain"), f"{where}.chain")
    if "ring_timeout" in m:
        o.ring_timeout = check_ring_timeout(m["ring_timeout"], f"{where}.ring_timeout")
    if m.get("pool") is not None:
        o.pool = check_pool_name(m["pool"], f"{where}.pool")
    o.schedule = check_windows(m.get("schedule"), f"{where}.schedule")
    if "availability" in m:
        o.availability = check_availability(m["availability"], f"{where}.availability")
    return o


def parse_yaml(text: str) -> DirectorySpec:
    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InvalidDirectory(f"not valid YAML: {exc}") from None
    except RecursionError:  # nesting deeper than the parser's stack
        raise InvalidDirectory("not valid YAML: nested too deeply") from None
    if doc is None and text.strip():  # an explicit null is not a directory
        raise InvalidDirectory("expected a mapping", where="directory")
    if doc is None:
        doc = {}
    top = _mapping(doc, "directory", {"version", "settings", "pools", "operators", "officials"})
    if top.get("version") not in (None, "1"):
        raise InvalidDirectory(f"unsupported format version {top.get('version')!r}", where="version")
    spec = DirectorySpec()
    settings = _mapping(top.get("settings") or {}, "settings", _SETTINGS_KEYS)
    if "default_chain" in settings:
        chain = check_chain(settings["default_chain"], "settings.default_chain")
        if chain is None:
            raise InvalidChain("default_chain cannot be null", where="settings.default_chain")
        spec.settings["default_chain"] = chain
    if "timezone" in settings:
        spec.settings["timezone"] = check_timezone(settings["timezone"], "settings.timezone")
    spec.pools = [_pool(p, f"pools[{i}]") for i, p in enumerate(_list(top.get("pools"), "pools"))]
    spec.operators = [_operator(p, f"operators[{i}]")
                      for i, p in enumerate(_list(top.get("operators"), "operators"))]
    spec.officials = [_official(p, f"officials[{i}]")
                      for i, p in enumerate(_list(top.get("officials"), "officials"))]
    check_consistency(spec)
    return spec


# --- CSV -----------------------------------------------------------------------------------

def published_form(raw: Any) -> str:
    """The number as the directory wrote it, for display (white space folded, 40 characters)."""
    return " ".join(str(raw).split())[:40]


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(";") if part.strip()]


def parse_csv(text: str) -> DirectorySpec:
    """One official per row: slug,name,title,department,numbers,sip,mobile,deputy,mode,superior.

    ``numbers`` and ``mobile`` may hold several values separated by ``;``. An empty cell leaves
    the current value alone (numbers, devices, deputy, mode, superior)."""
    text = text.lstrip("\ufeff")  # spreadsheet exports start with a BOM
    try:
        return _parse_csv_rows(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:  # a malformed CSV is bad input, not a server error
        raise InvalidDirectory(f"not a CSV file: {exc}", where="CSV") from None


def _parse_csv_rows(reader: csv.DictReader[str]) -> DirectorySpec:
    header = [h.strip() for h in (reader.fieldnames or [])]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown or "slug" not in header or "name" not in header:
        raise InvalidDirectory(f"CSV header must use the columns {','.join(CSV_COLUMNS)} "
                               f"(slug and name required); got {','.join(header)}", where="row 1")
    reader.fieldnames = header
    spec = DirectorySpec()
    for row in reader:
        where = f"row {reader.line_num}"
        if None in row:
            raise InvalidDirectory("more cells than columns", where=where)
        cells = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if not any(cells.values()):
            continue
        raw: dict[str, Any] = {"slug": cells.get("slug", ""), "name": cells.get("name", "")}
        for key in ("title", "department"):
            if cells.get(key):
                raw[key] = cells[key]
        if cells.get("numbers"):
            raw["numbers"] = _split(cells["numbers"])
        devices: list[dict[str, str]] = [{"sip": e} for e in _split(cells.get("sip", ""))]
        devices += [{"mobile": n} for n in _split(cells.get("mobile", ""))]
        if cells.get("confirm"):
            _csv_confirm(devices, cells["confirm"], f"{where} ({raw['slug']}), confirm")
        if devices:
            raw["devices"] = devices
        for key in ("deputy", "superior", "mode"):
            if cells.get(key):
                raw[key] = cells[key]
        spec.officials.append(_csv_official(raw, where))
    check_consistency(spec)
    return spec


def _csv_confirm(devices: list[dict[str, str]], cell: str, where: str) -> None:
    """The ``confirm`` cell: the row's devices that confirm (endpoints or mobile numbers, ``;``
    separated; ``none``: none of them); the others do not. Empty: the defaults."""
    if not devices:
        raise InvalidDirectory("confirm needs the row's devices (sip, mobile)", where=where)
    keys = [d["sip"] if "sip" in d else check_number(d["mobile"], where) for d in devices]
    wanted: set[str] = set()
    for entry in ([] if cell.strip().lower() == "none" else _split(cell)):
        key = entry if entry in keys else check_number(entry, where)
        if key not in keys:
            raise InvalidDirectory(f"confirm names {entry!r}, not a device of the row", where=where)
        wanted.add(key)
    for d, key in zip(devices, keys, strict=True):
        d["confirm"] = "true" if key in wanted else "false"


def _csv_official(raw: dict[str, Any], where: str) -> OfficialSpec:
    try:
        official = _official(raw, "official")
    except IvrError as exc:
        inner = str(exc.details.get("where", ""))
        field_name = inner.rsplit(".", 1)[-1] if "." in inner else inner
        slug = raw.get("slug", "")
        exc.details["where"] = f"{where} ({slug}), {field_name}" if field_name else where
        exc.message = f"{exc.details['where']}: {str(exc).split(': ', 1)[-1]}"
        exc.args = (exc.message,)
        raise
    official.where = f"{where} ({official.slug})"
    return official


# --- cross checks --------------------------------------------------------------------------

def check_consistency(spec: DirectorySpec) -> None:
    """Duplicates within the file (slugs, numbers, endpoints, pools); every language given is
    selectable (prompts and a speech model, see ``ivr.speech.languages``; once per language)."""
    given: dict[str, str] = {}
    for o in spec.officials:
        if "language" in o.given:
            given.setdefault(o.language, f"{o.where}.language")
    for language, where in given.items():
        speech_languages.check(language, where=where)
    seen_pool: set[str] = set()
    for i, p in enumerate(spec.pools):
        if p.name in seen_pool:
            raise InvalidDirectory(f"pool {p.name!r} listed twice", where=f"pools[{i}].name")
        seen_pool.add(p.name)
    endpoints: dict[str, str] = {}
    for i, op in enumerate(spec.operators):
        if op.endpoint in endpoints:
            raise InvalidEndpoint(f"endpoint {op.endpoint!r} already used by {endpoints[op.endpoint]}",
                                  where=f"operators[{i}].endpoint")
        endpoints[op.endpoint] = f"operators[{i}]"
    slugs: set[str] = set()
    numbers: dict[str, str] = {}
    for o in spec.officials:
        if o.slug in slugs:
            raise InvalidDirectory(f"slug {o.slug!r} listed twice", where=o.where)
        slugs.add(o.slug)
        for n in o.numbers:
            if n in numbers:
                raise MalformedNumber(f"number {n} already listed for {numbers[n]}",
                                      where=f"{o.where}.numbers")
            numbers[n] = o.where
        mobiles: set[str] = set()
        for d in o.devices:
            if d.endpoint is not None:
                if d.endpoint in endpoints:
                    raise InvalidEndpoint(f"endpoint {d.endpoint!r} already used by {endpoints[d.endpoint]}",
                                          where=f"{o.where}.devices")
                endpoints[d.endpoint] = o.where
            if d.number is not None:
                if d.number in mobiles:
                    raise InvalidDirectory(f"mobile {d.number} listed twice", where=f"{o.where}.devices")
                mobiles.add(d.number)


def parse_directory(text: str, fmt: str) -> DirectorySpec:
    if fmt == "yaml":
        return parse_yaml(text)
    if fmt == "csv":
        return parse_csv(text)
    raise InvalidDirectory(f"unknown directory format {fmt!r}: expected yaml or csv")


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".csv":
        return "csv"
    raise InvalidDirectory(f"{path}: cannot tell the format from the extension (.yaml, .yml or .csv)")


def load_file(path: str | Path) -> DirectorySpec:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidDirectory(f"cannot read {path}: {exc}") from None
    return parse_directory(text, format_of(path))
