"""Reading Asterisk's CEL journal (JSON lines, ``cel_custom``) from a committed position.

A position is ``{"inode": …, "offset": …}``: the byte after the last whole line already recorded
in the database. Reads are bounded (``max_bytes``) so memory does not grow with what is left to
read, and end at a line boundary: a line Asterisk is still writing waits for the next read. A
journal with another inode (replaced, rotated) or shorter than the offset (truncated) is read
from its start: events are deduplicated by key, so reading one twice changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

Position = dict[str, int]
OFFSET_KEY = "cel_journal_offset"  # before 0006: one row for all nodes; now per node:
TAIL_BYTES = 65536  # how far back from the end a line boundary is looked for


def offset_key(node: str) -> str:
    """The settings key of a node's journal position (each node records only its own journal)."""
    return f"{OFFSET_KEY}:{node}"


def _start(st: os.stat_result, pos: Position) -> int:
    offset = pos.get("offset", 0)
    if pos.get("inode") != st.st_ino or st.st_size < offset:
        return 0  # a new or truncated journal: read it all (dedupe makes that safe)
    return offset


def read_chunk(path: Path, pos: Position, max_bytes: int) -> tuple[list[str], Position]:
    """The whole lines after ``pos``, at most about ``max_bytes`` of them (one line longer than
    that is read whole), and the position after them."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return [], pos
    offset = _start(st, pos)
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read(max_bytes)
        while data and b"\n" not in data and len(data) % max_bytes == 0:
            more = fh.read(max_bytes)  # a line longer than a chunk: read on to its end
            if not more:
                break
            data += more
    end = data.rfind(b"\n") + 1  # a partly written last line waits for the next read
    lines = data[:end].decode("utf-8", "replace").splitlines()
    return lines, {"inode": st.st_ino, "offset": offset + end}


def complete_end(path: Path) -> Position | None:
    """The position after the journal's last whole line now (None: no journal). Recording up
    to it means recording everything Asterisk had finished writing when this was called; a
    line cut short by a crash is never finished and not waited for."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            start = max(0, st.st_size - TAIL_BYTES)
            fh.seek(start)
            tail = fh.read(st.st_size - start)
    except FileNotFoundError:
        return None
    cut = tail.rfind(b"\n")
    return {"inode": st.st_ino, "offset": start + cut + 1 if cut >= 0 else start}


def reached(pos: Position, target: Position) -> bool:
    return pos.get("inode") == target.get("inode") and pos.get("offset", 0) >= target.get("offset", 0)
