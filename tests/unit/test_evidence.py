"""Evidence chains (ivr/evidence): the canonical form and its hashes; the recorder sealing raw
events and call records in its chunk transaction, a rewritten record superseded, case events
and audit entries sealed by the backlog; ``verify`` passing, then naming the entry after a field
is changed, a row deleted, the tail truncated; a recomputed chain caught against published
heads; anonymisation and pruning leaving it passing. On SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, or_, select, text, update

from ivr.calls.recorder import CallRecorder
from ivr.core.config import Config
from ivr.core.timeutil import utcnow
from ivr.db.evidence_models import EvidenceEntry, EvidenceHead
from ivr.db.followup_models import Case, CaseEvent, Transcript, Voicemail, WebhookDelivery
from ivr.db.models import AuditEntry, Call, CelEvent
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade_async
from ivr.evidence.canon import canonical, content_hash, field_hash, field_hashes
from ivr.evidence.chain import Seal, append, seal_backlog
from ivr.evidence.chain import heads as chain_heads
from ivr.evidence.heads import check_signature, publish_due, signed_heads
from ivr.evidence.retention import run_retention
from ivr.evidence.verify import Report, verify
from ivr.supervision.monthly import _heads as monthly_heads
from tests.unit.test_recorder import T0, _split, answered_call

# -- the canonical form ----------------------------------------------------------------------


def test_canonical_is_stable_across_key_order_and_time_representation() -> None:
    aware = datetime(2026, 11, 26, 20, 0, 1, 250000, tzinfo=UTC)
    naive = aware.replace(tzinfo=None)  # how SQLite hands it back
    shanghai = aware.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    a = canonical({"b": 1, "a": [aware, 1.5, None, True], "c": "领导"})
    assert a == canonical({"c": "领导", "a": [naive, 1.5, None, True], "b": 1})
    assert a == canonical({"a": [shanghai, 1.5, None, True], "b": 1, "c": "领导"})
    assert a == ('{"a":["2026-11-26T20:00:01.250000Z",1.5,null,true],"b":1,"c":"领导"}'
                 ).encode()
    assert canonical({"x": 3.0}) != canonical({"x": 3})  # a float column never gives an int


def test_field_hashes_salt_only_the_personal_fields() -> None:
    content = {"caller": "13800000000", "outcome": "answered"}
    one = field_hashes("aa" * 16, content, ("caller",))
    two = field_hashes("bb" * 16, content, ("caller",))
    assert one["outcome"] == two["outcome"] == field_hash("", "outcome", "answered")
    assert one["caller"] != two["caller"]  # without its salt a number is not found again
    assert len(one["caller"]) == 32
    assert content_hash(one) != content_hash(two)
    # a known vector: the hash is reproducible anywhere from the documented construction
    assert field_hash("", "outcome", "answered") == __import__("hashlib").sha256(
        b"\x00outcome\x00\"answered\"").hexdigest()[:32]


# -- on a database ---------------------------------------------------------------------------


@pytest.fixture
async def env(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Db, Config]]:
    await upgrade_async(db_url)
    config = Config.build(database={"url": db_url}, node={"name": "n1"},
                          asterisk={"root": str(tmp_path / "root")})
    engine = create_engine(config)
    yield make_sessionmaker(engine), config
    await engine.dispose()


def _first(report: Report) -> str:
    assert not report.ok, "verify passed on a tampered database"
    return str(report.problems[0])


async def _traffic(db: Db, config: Config) -> CallRecorder:
    """Two calls (one closed as interrupted, then its end came), an audit entry, a case event."""
    rec = CallRecorder(db, config)
    await rec.record(answered_call("1795366780.1").records())
    first, mid, rest = _split(answered_call("1795366780.2", t0=T0 + 100).records())
    await rec.record(first + mid)
    assert [v.outcome for v in await rec.close_interrupted(["1795366780.2"])] == ["interrupted"]
    await rec.record(rest)
    async with db() as s, s.begin():
        s.add(AuditEntry(actor="cli:admin", field="mode", old_value="direct", new_value="pool",
                         reason="会议"))
        case = Case(kind="missed", caller="13800000000", deadline=utcnow())
        s.add(case)
        await s.flush()
        s.add(CaseEvent(case_id=case.id, actor="system", action="created", note=""))
    assert await seal_backlog(db, config.node.name) == 2
    return rec


async def test_verify_passes_after_traffic_and_a_record_is_superseded(
        env: tuple[Db, Config]) -> None:
    db, config = env
    await _traffic(db, config)
    report = await verify(db)
    assert report.ok, [str(p) for p in report.problems]
    assert report.chains == 4  # cel, call, audit, case of node n1
    async with db() as s:
        call2 = await s.scalar(select(Call).where(Call.linkedid == "1795366780.2"))
        assert call2 is not None and call2.outcome == "answered"
        revs = (await s.execute(select(EvidenceEntry.rev, EvidenceEntry.detail)
                                .where(EvidenceEntry.kind == "call",
                                       EvidenceEntry.ref == str(call2.id))
                                .order_by(EvidenceEntry.rev))).all()
    assert [r for r, _ in revs] == [0, 1]  # sealed interrupted, then superseded: not rewritten
    assert revs[1][1]["supersedes"] == 0 and "outcome" in revs[1][1]["changed"]
    assert await seal_backlog(db, config.node.name) == 0  # nothing left unsealed


async def test_a_changed_field_is_named(env: tuple[Db, Config]) -> None:
    db, config = env
    await _traffic(db, config)
    async with db() as s, s.begin():
        await s.execute(update(Call).where(Call.linkedid == "1795366780.1")
                        .values(outcome="abandoned"))
    first = _first(await verify(db))
    assert first.startswith("call/n1 seq 1 (call ") and "outcome" in first


async def test_a_deleted_audit_row_is_named(env: tuple[Db, Config]) -> None:
    db, config = env
    await _traffic(db, config)
    async with db() as s, s.begin():
        await s.execute(delete(AuditEntry))
    first = _first(await verify(db))
    assert first.startswith("audit/n1 seq 1 (audit ") and "missing" in first


async def test_a_truncated_tail_is_found(env: tuple[Db, Config]) -> None:
    db, config = env
    await _traffic(db, config)
    async with db() as s, s.begin():
        last = await s.scalar(select(EvidenceHead.seq).where(EvidenceHead.stream == "cel"))
        await s.execute(delete(EvidenceEntry).where(EvidenceEntry.stream == "cel",
                                                    EvidenceEntry.seq >= last - 1))
    first = _first(await verify(db))
    assert f"cel/n1 seq {last - 1}" in first and "truncated" in first


async def test_a_recomputed_chain_is_caught_against_published_heads(
        env: tuple[Db, Config]) -> None:
    db, config = env
    await _traffic(db, config)
    key = b"not-in-the-database"
    published = await signed_heads(db, key)
    assert check_signature(published, key) is None
    forged = dict(published, heads=[dict(h, entry_hash="0" * 64) for h in published["heads"]])
    assert check_signature(forged, key) is not None
    # the administrator changes a call and recomputes every chain from scratch
    async with db() as s, s.begin():
        await s.execute(update(Call).where(Call.linkedid == "1795366780.1")
                        .values(answered_by="o-zhang"))
        await s.execute(delete(EvidenceEntry))
        await s.execute(delete(EvidenceHead))
    while await seal_backlog(db, config.node.name, rescan=True):
        pass
    assert (await verify(db)).ok  # consistent in itself …
    first = _first(await verify(db, published))  # … but not with what was published
    assert "differs from the published head" in first


async def test_anonymisation_and_prune_leave_it_verifying(env: tuple[Db, Config]) -> None:
    db, config = env
    rec = await _traffic(db, config)
    async with db() as s:
        events = await s.scalar(select(func.count()).select_from(CelEvent).where(
            or_(CelEvent.cid_num != "", CelEvent.extra != "")))
    later = datetime.fromtimestamp(T0, UTC) + timedelta(days=400)  # every record is old then
    assert await run_retention(db, config, {"caller": 500.0}, "cli:test", later) == {"caller": 0}
    counts = await run_retention(db, config, {"caller": 365.0}, "cli:test", later)
    assert counts["caller"] == 2 + events + 1  # 2 calls, their raw events, the case
    async with db() as s:
        assert set((await s.scalars(select(Call.caller))).all()) == {""}
        assert set((await s.scalars(select(CelEvent.extra))).all()) == {""}
        assert events and events > 10
        assert await s.scalar(select(Case.caller)) == ""
        salts = (await s.execute(select(EvidenceEntry.kind, EvidenceEntry.salt).where(
            EvidenceEntry.kind.in_(("call", "cel"))))).all()
        total = await s.scalar(select(func.count()).select_from(CelEvent))
    # cleared wherever a number was blanked (events without any personal field keep theirs)
    assert {salt for kind, salt in salts if kind == "call"} == {None}
    assert sum(1 for kind, salt in salts if kind == "cel" and salt is not None) == total - events
    report = await verify(db)
    assert report.ok, [str(p) for p in report.problems]
    # raw events pruned: released by a retention entry, still verifying
    assert await rec.prune(0.0) > 0
    report = await verify(db)
    assert report.ok, [str(p) for p in report.problems]
    # an anonymised number put back is caught
    async with db() as s, s.begin():
        await s.execute(update(Call).where(Call.linkedid == "1795366780.1")
                        .values(caller="13800000000"))
    assert "caller was anonymised" in _first(await verify(db))


async def test_unsealed_rows_fail_verification(env: tuple[Db, Config]) -> None:
    db, config = env
    await _traffic(db, config)
    async with db() as s, s.begin():
        s.add(AuditEntry(actor="sqlite3", field="mode", old_value="x", new_value="y"))
    assert "without an evidence entry" in _first(await verify(db))


async def test_concurrent_appends_never_fork_a_chain(env: tuple[Db, Config]) -> None:
    db, _ = env

    async def one(i: int) -> None:
        async with db() as s, s.begin():
            await append(s, "audit", "n1", [Seal("test", f"{i}-{j}", 0, "ab" * 32, None, None)
                                           for j in range(3)])
    await asyncio.gather(*(one(i) for i in range(8)))
    async with db() as s:
        seqs = (await s.scalars(select(EvidenceEntry.seq).order_by(EvidenceEntry.seq))).all()
        head = await s.scalar(select(EvidenceHead.seq))
        dialect = s.get_bind().dialect.name
        if dialect == "postgresql":
            assert await s.scalar(text("select count(distinct seq) from evidence")) == 24
    assert list(seqs) == list(range(1, 25)) and head == 24
    report = await verify(db)
    assert report.entries == 24 and not [p for p in report.problems if p.seq is not None
                                         and "missing" not in p.what and p.kind != "test"]


async def test_heads_published_once_a_day_through_the_hook_and_in_the_monthly_report(
        env: tuple[Db, Config], tmp_path: Path) -> None:
    db, config = env
    await _traffic(db, config)
    key = tmp_path / "heads.key"
    key.write_text("outside the database\n", encoding="utf-8")
    config = Config.build(database={"url": config.database.url}, node={"name": "n1"},
                          evidence={"key_file": str(key)})
    assert await publish_due(db, config, ["wecom", "audit"]) == 2
    assert await publish_due(db, config, ["wecom", "audit"]) == 0  # once a day and target
    async with db() as s:
        rows = (await s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))).all()
        heads = await chain_heads(s)
    assert [r.event for r in rows] == ["evidence.heads"] * 2
    body = rows[0].payload["heads"]
    assert body["heads"] == heads and len(heads) == 4
    assert check_signature(body, b"outside the database") is None
    assert check_signature(body, b"another key") is not None
    printed = await monthly_heads(db)
    assert len(printed) == 4 and all(h["entry_hash"] in " ".join(printed) for h in heads)
    off = Config.build(database={"url": config.database.url}, evidence={"publish": False})
    async with db() as s, s.begin():
        await s.execute(delete(WebhookDelivery))
    assert await publish_due(db, off, ["wecom"]) == 0


@pytest.mark.parametrize("value", ["", "领导\n\"x\"\\\u2028\x00", "a" * 300, 0, -7, 2**70, 0.1,
                                   1e-300, 3.0, -0.0, True, False, None])
def test_the_fast_path_gives_json_dumps_bytes(value: object) -> None:
    assert canonical(value) == __import__("json").dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def test_anonymisation_never_launders_a_changed_record(env: tuple[Db, Config]) -> None:
    db, config = env
    await _traffic(db, config)
    async with db() as s, s.begin():
        await s.execute(update(Call).where(Call.linkedid == "1795366780.1")
                        .values(answered_by="o-li"))
    later = datetime.fromtimestamp(T0, UTC) + timedelta(days=400)
    await run_retention(db, config, {"caller": 365.0}, "cli:test", later)
    async with db() as s:
        callers = dict((await s.execute(select(Call.linkedid, Call.caller))).all())
    assert callers == {"1795366780.1": "13800000000", "1795366780.2": ""}
    first = _first(await verify(db))
    assert "(call " in first and "answered_by" in first


async def test_transcripts_and_audio_past_their_period(env: tuple[Db, Config]) -> None:
    db, config = env
    await _traffic(db, config)
    audio = config.host_path("/spool/ivr-voicemail/msg-1.wav")
    audio.parent.mkdir(parents=True)
    audio.write_bytes(b"RIFF....")
    async with db() as s, s.begin():
        vm = Voicemail(path="/spool/ivr-voicemail/msg-1.wav", linkedid="1795366780.9",
                       caller="13800000000", received_at=utcnow())
        s.add(vm)
        await s.flush()
        s.add(Transcript(voicemail_id=vm.id, text="我家门口的路灯坏了", words=[], model="m",
                         language="zh", corrected_text="我家门口路灯坏了"))
        case = await s.scalar(select(Case))
        assert case is not None
        s.add(CaseEvent(case_id=case.id, actor="official:zhang", action="transcript_corrected",
                        note="我家门口路灯坏了"))
    assert await seal_backlog(db, config.node.name) == 1
    later = utcnow() + timedelta(days=40)
    counts = await run_retention(db, config, {"transcripts": 30.0, "audio": 30.0}, "cli:t", later)
    assert counts == {"transcripts": 2, "audio": 1}  # the case event and the transcript; a file
    assert not audio.exists()
    async with db() as s:
        tr = await s.scalar(select(Transcript))
        assert tr is not None and (tr.text, tr.corrected_text) == ("", None)
        notes = (await s.scalars(select(CaseEvent.note).where(
            CaseEvent.action == "transcript_corrected"))).all()
        kinds = [e["action"] + ":" + e["data"] for e in (await s.scalars(
            select(EvidenceEntry.detail).where(EvidenceEntry.kind == "retention"))).all()]
    assert list(notes) == [""] and sorted(kinds) == ["anonymise:transcripts", "delete:audio"]
    report = await verify(db)
    assert report.ok, [str(p) for p in report.problems]


async def test_two_controllers_sealing_at_once_seal_each_row_once(env: tuple[Db, Config]) -> None:
    db, _ = env
    async with db() as s, s.begin():
        s.add_all(AuditEntry(actor=f"web:{i}", field="mode", old_value="direct",
                             new_value="pool") for i in range(300))
    for _ in range(3):  # rounds of both nodes at once, as their recorder threads would run
        await asyncio.gather(seal_backlog(db, "n1", batch=120), seal_backlog(db, "n2", batch=120))
    while await seal_backlog(db, "n1", rescan=True):
        pass
    async with db() as s:
        refs = (await s.scalars(select(EvidenceEntry.ref).where(EvidenceEntry.kind == "audit")))
        sealed = list(refs.all())
    assert len(sealed) == len(set(sealed)) == 300
    report = await verify(db)
    assert report.ok, [str(p) for p in report.problems]


async def test_the_commands_exit_codes(env: tuple[Db, Config], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from ivr.cli import main

    db, config = env
    await _traffic(db, config)
    cfg = tmp_path / "ivr.toml"
    cfg.write_text(f'[database]\nurl = "{config.database.url}"\n[node]\nname = "n1"\n',
                   encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text('{"nothing": 1}', encoding="utf-8")

    async def run(*args: str) -> int:  # the command runs its own loop: in a thread
        return await asyncio.to_thread(main, ["--config", str(cfg), *args])
    assert await run("verify") == 0 and "evidence intact" in capsys.readouterr().out
    assert await run("verify", "--against", str(bad)) == 2
    assert "not a heads file" in capsys.readouterr().err
    assert await run("retention", "run") == 0 and "nothing done" in capsys.readouterr().out
    assert await run("retention", "run", "--caller-days", "-1") == 2
    async with db() as s, s.begin():
        await s.execute(update(AuditEntry).values(reason="改过"))
    assert await run("verify") == 1
    assert "first: audit/n1 seq 1" in capsys.readouterr().err
