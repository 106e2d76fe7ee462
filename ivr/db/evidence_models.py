"""The evidence chains (issue 13; migration 0019): an append-only table of hashed entries.

On ``ivr.db.models.Base`` (same metadata, so Alembic sees them). Each entry seals one row (a raw
CEL event, a call record, a case event, an audit entry) or records a retention action, and
carries the hash of the entry before it in its stream and node (``ivr.evidence``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ivr.core.timeutil import utcnow
from ivr.db.models import Base


class EvidenceEntry(Base):
    __tablename__ = "evidence"
    id: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(String(16))  # cel | call | case | audit | retention
    node: Mapped[str] = mapped_column(String(64))  # the controller (or CLI) that appended it
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, … per stream and node
    kind: Mapped[str] = mapped_column(String(16))  # the sealed row's kind, or "retention"
    ref: Mapped[str] = mapped_column(String(64))  # its id (CEL: its key)
    rev: Mapped[int] = mapped_column(Integer, default=0)  # 0 sealed; 1, 2, … superseding
    content_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # hashed with the entry: field hashes (calls, cases, audit), retention details
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # per-entry salt of the field hashes: not hashed (it is an input of content_hash), and the
    # only column ever changed: anonymisation clears it (a caller number's hash is then no
    # longer brute-forceable)
    salt: Mapped[str | None] = mapped_column(String(32))
    __table_args__ = (
        UniqueConstraint("stream", "node", "seq", name="uq_evidence_stream_node_seq"),
        UniqueConstraint("kind", "ref", "rev", name="uq_evidence_kind_ref_rev"),
        Index("ix_evidence_kind_ref", "kind", "ref"),
    )


class EvidenceHead(Base):
    """The newest entry of each stream and node: the row appenders lock (so appends on one
    stream and node are serialised, PostgreSQL or SQLite) and what is published."""
    __tablename__ = "evidence_heads"
    stream: Mapped[str] = mapped_column(String(16), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    entry_hash: Mapped[str] = mapped_column(String(64))
