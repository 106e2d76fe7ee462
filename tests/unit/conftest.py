"""Unit-test fixtures: ``db_url`` (every DB-backed test runs on SQLite and on a real PostgreSQL)
and the session's throwaway PostgreSQL server ``pg_server`` (see conftest_pg.py)."""

from __future__ import annotations

from conftest_pg import db_url, pg_server  # noqa: F401  (fixtures)
