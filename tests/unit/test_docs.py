"""docs/architecture.md against the dialplan templates: the context table and the event table.

Fails in either direction: a context or event the templates have and the doc lacks, one the doc
names and the templates do not have, an extra key missing on either side, a context listed under
the wrong fragment.
"""

from __future__ import annotations

import re
import shutil
from importlib.resources.abc import Traversable
from pathlib import Path

import pytest

from ivr.asterisk.render import TEMPLATE_DIR

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
MAIN = "extensions.conf.tmpl"
NOT_CONTEXTS = {"general", "globals"}  # extensions.conf sections that are not dialplan contexts


# --- the templates -------------------------------------------------------------------------------

def dialplan_files(root: Traversable | Path) -> dict[str, str]:
    """``{name: text}`` of extensions.conf.tmpl and every fragment under extensions/."""
    files = {MAIN: (root / MAIN).read_text(encoding="utf-8")}
    for t in sorted((root / "extensions").iterdir(), key=lambda t: t.name):
        if t.name.endswith(".tmpl"):
            files[t.name] = t.read_text(encoding="utf-8")
    return files


def template_contexts(root: Traversable | Path) -> dict[str, set[str]]:
    """``{context: {file declaring it}}``."""
    out: dict[str, set[str]] = {}
    for name, text in dialplan_files(root).items():
        for ctx in re.findall(r"^\[([^\]\s]+)\]", text, flags=re.M):
            if ctx not in NOT_CONTEXTS:
                out.setdefault(ctx, set()).add(name)
    return out


def _call_args(text: str, start: int) -> str:
    """The argument text of the application call whose ``(`` is at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1:i]
    raise AssertionError(f"unbalanced parentheses after {text[start - 30:start + 30]!r}")


def template_events(root: Traversable | Path) -> dict[str, set[str]]:
    """``{event name: {extra keys}}`` over every CELGenUserEvent/UserEvent of the dialplan."""
    out: dict[str, set[str]] = {}
    for text in dialplan_files(root).values():
        for m in re.finditer(r"\b(CELGenUserEvent|UserEvent)\(", text):
            args = _call_args(text, m.end() - 1)
            name, _, extra = args.partition(",")
            keys = out.setdefault(name.strip(), set())
            if m.group(1) == "CELGenUserEvent":  # k=v joined by \;
                keys.update(part.split("=", 1)[0] for part in extra.split("\\;") if "=" in part)
            else:  # UserEvent(name,Key: value,...)
                keys.update(part.split(":", 1)[0].strip() for part in extra.split(",") if ":" in part)
    return out


# --- the doc -------------------------------------------------------------------------------------

def table_rows(doc: str, heading: str) -> list[list[str]]:
    """The cells of the first table under the ``## <heading>…`` section (header row dropped)."""
    m = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", doc, flags=re.M | re.S)
    assert m, f"docs/architecture.md has no section '## {heading}'"
    lines = [ln for ln in m.group(1).splitlines() if ln.startswith("|")]
    assert len(lines) > 2, f"no table under '## {heading}'"
    assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[1]), lines[1]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in lines[2:]]


def _code(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def doc_contexts(doc: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in table_rows(doc, "Dialplan contexts"):
        (name,) = _code(row[0])
        assert name not in out, f"context {name} listed twice"
        out[name] = set(_code(row[1]))
    return out


def doc_events(doc: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in table_rows(doc, "Call events"):
        (name,) = _code(row[0])
        assert name not in out, f"event {name} listed twice"
        out[name] = {k for span in _code(row[1]) for k in re.findall(r"(?:^|;)(\w+)=", span)}
    return out


def drift(doc: dict[str, set[str]], templates: dict[str, set[str]], what: str) -> list[str]:
    problems = [f"{what} {n} is in the templates, not in docs/architecture.md"
                for n in sorted(set(templates) - set(doc))]
    problems += [f"{what} {n} is in docs/architecture.md, not in the templates"
                 for n in sorted(set(doc) - set(templates))]
    for n in sorted(set(doc) & set(templates)):
        if doc[n] != templates[n]:
            problems.append(f"{what} {n}: docs say {sorted(doc[n])}, templates have {sorted(templates[n])}")
    return problems


# --- the tests -----------------------------------------------------------------------------------

def test_context_table_matches_the_templates() -> None:
    found = template_contexts(TEMPLATE_DIR)
    assert {"ivr-citizens", "ivr-route", "ivr-callback-run"} <= set(found)  # the parser works
    assert drift(doc_contexts(DOC.read_text(encoding="utf-8")), found, "context") == []


def test_event_table_matches_the_templates() -> None:
    found = template_events(TEMPLATE_DIR)
    assert found["IVR_ROUTE"] == {"official", "src", "mode"}  # the parser works
    assert drift(doc_events(DOC.read_text(encoding="utf-8")), found, "event") == []


def test_drift_is_caught_both_ways(tmp_path: Path) -> None:
    doc = DOC.read_text(encoding="utf-8")
    # the doc lacks a context, names a wrong fragment, documents a key the dialplan does not send
    row = next(ln for ln in doc.splitlines() if ln.startswith("| `ivr-predial` |"))
    bad = doc.replace(row + "\n", "").replace("| `ivr-menu` | `menu.tmpl` |", "| `ivr-menu` | `pool.tmpl` |")
    bad = bad.replace("`file=<path>;status=", "`file=<path>;secs=<duration>;status=")
    assert drift(doc_contexts(bad), template_contexts(TEMPLATE_DIR), "context") == [
        "context ivr-predial is in the templates, not in docs/architecture.md",
        "context ivr-menu: docs say ['pool.tmpl'], templates have ['menu.tmpl']"]
    assert drift(doc_events(bad), template_events(TEMPLATE_DIR), "event") == [
        "event IVR_VOICEMAIL: docs say ['file', 'secs', 'status'], templates have ['file', 'status']"]
    # the templates gain a context, an event and a key the doc does not have
    root = tmp_path / "templates"
    shutil.copytree(Path(str(TEMPLATE_DIR)), root)
    with (root / "extensions" / "callbacks.tmpl").open("a", encoding="utf-8") as f:
        f.write("\n[ivr-new]\nexten => s,1,CELGenUserEvent(IVR_NEW,a=${X}\\;b=${IF($[1]?y:n)})\n"
                " same => n,UserEvent(IVR_AMI,Official: ${IVR_OFFICIAL},Step: 1)\n"
                " same => n,CELGenUserEvent(IVR_CALL,dialed=${EXTEN}\\;origin=${X})\n")
    assert template_events(root)["IVR_NEW"] == {"a", "b"}
    assert drift(doc_contexts(doc), template_contexts(root), "context") == [
        "context ivr-new is in the templates, not in docs/architecture.md"]
    assert drift(doc_events(doc), template_events(root), "event") == [
        "event IVR_AMI is in the templates, not in docs/architecture.md",
        "event IVR_NEW is in the templates, not in docs/architecture.md",
        "event IVR_CALL: docs say ['caller', 'caller_raw', 'dialed'], templates have "
        "['caller', 'caller_raw', 'dialed', 'origin']"]


@pytest.mark.parametrize("heading", ["Dialplan contexts", "Call events"])
def test_sections_exist_once(heading: str) -> None:
    assert DOC.read_text(encoding="utf-8").count(f"\n## {heading}") == 1
