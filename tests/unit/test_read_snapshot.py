"""A view assembled from several queries reads one committed state (:func:`snapshot`).

CI saw the failure this guards against: a case page read the case before the pipeline flagged it
"needs listening" and the message's job after the job was marked failed, so it showed a failed
transcription on a case nobody was asked to listen to."""

from __future__ import annotations

from sqlalchemy import text

from ivr.core.config import Config
from ivr.db.session import create_engine, make_sessionmaker, snapshot


async def test_a_snapshot_sees_a_commit_wholly_or_not_at_all(db_url: str) -> None:
    engine = create_engine(Config.build(database={"url": db_url}))
    writer = create_engine(Config.build(database={"url": db_url}))
    db = make_sessionmaker(engine)
    try:
        async with writer.begin() as conn:
            await conn.execute(text("CREATE TABLE cases (id INTEGER PRIMARY KEY, listen BOOLEAN)"))
            await conn.execute(text("CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT)"))
            await conn.execute(text("INSERT INTO cases VALUES (1, false)"))
            await conn.execute(text("INSERT INTO jobs VALUES (1, 'running')"))

        async def change() -> None:  # the pipeline: flag the case, then fail the job
            async with writer.begin() as conn:
                await conn.execute(text("UPDATE cases SET listen = true WHERE id = 1"))
            async with writer.begin() as conn:
                await conn.execute(text("UPDATE jobs SET status = 'failed' WHERE id = 1"))

        async with snapshot(db) as session:
            listen = await session.scalar(text("SELECT listen FROM cases WHERE id = 1"))
            await change()
            status = await session.scalar(text("SELECT status FROM jobs WHERE id = 1"))
        assert (bool(listen), status) == (False, "running")  # the state before the change

        async with writer.begin() as conn:  # once more, read by a plain session
            await conn.execute(text("UPDATE cases SET listen = false WHERE id = 1"))
            await conn.execute(text("UPDATE jobs SET status = 'running' WHERE id = 1"))
        async with db() as session:
            listen = await session.scalar(text("SELECT listen FROM cases WHERE id = 1"))
            await change()
            status = await session.scalar(text("SELECT status FROM jobs WHERE id = 1"))
        assert (bool(listen), status) == (False, "failed")  # what the snapshot prevents

        async with snapshot(db) as session:  # after the change: all of it
            row = (await session.execute(text(
                "SELECT c.listen, j.status FROM cases c, jobs j"))).one()
        assert (bool(row[0]), row[1]) == (True, "failed")
    finally:
        await engine.dispose()
        await writer.dispose()
