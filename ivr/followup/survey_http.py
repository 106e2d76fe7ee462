"""Satisfaction ratings over HTTP (issue 10): ``GET /api/v1/surveys`` (the surveys, filtered),
``GET /api/v1/surveys/ratings?by=official|pool|department`` (JSON) and
``GET /api/v1/surveys/ratings.csv`` (the same, UTF-8 CSV with a BOM for spreadsheets).
Admins and supervisors. Ratings: 1 satisfied (满意), 2 fairly satisfied (基本满意), 3 not
satisfied (不满意); the satisfaction rate counts 1 and 2."""

from __future__ import annotations

import csv
import io
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from ivr.core.constants import API_PREFIX
from ivr.core.ids import MAX_ID
from ivr.db.followup_models import Survey
from ivr.db.models import Official
from ivr.db.session import Db
from ivr.http import DB, Routes

routes = Routes("surveys")
PATH = f"{API_PREFIX}/surveys"
READERS = ["admin", "supervisor"]
BY = ("official", "pool", "department")


class SurveysQuery(BaseModel):
    call_id: int | None = Field(None, ge=1, le=MAX_ID, description="the answered call it follows")
    case_id: int | None = Field(None, ge=1, le=MAX_ID, description="the resolved case it follows")
    number: str | None = Field(None, description="the citizen's number", max_length=24)
    limit: int = Field(100, ge=1, le=1000)


class SurveyOut(BaseModel):
    id: int
    call_id: int | None
    case_id: int | None
    number: str
    official_id: int | None
    pool: str | None
    attempt: int
    state: str = Field(json_schema_extra={"enum": ["pending", "claimed", "dialled", "ended",
                                                  "done", "failed", "cancelled"]})
    rating: int | None = Field(description="1 satisfied, 2 fairly satisfied, 3 not satisfied")
    result: str | None = Field(description="RATED_n, OPTED_OUT, NOKEY, BUSY, NOANSWER, or why "
                                           "it was not placed (ALTERED, NUMBER_REFUSED, …)")
    linkedid: str | None = Field(description="the last attempt's call record (kind survey)")
    due_at: str


class SurveyList(BaseModel):
    items: list[SurveyOut]


class RatingsQuery(BaseModel):
    by: Literal["official", "pool", "department"] = "official"


class RatingRow(BaseModel):
    key: str = Field(description="the official's slug, the pool's name or the department")
    name: str
    rated: int
    satisfied: int
    fairly: int
    unsatisfied: int
    satisfaction_pct: float | None = Field(description="(satisfied + fairly) / rated × 100")


class RatingsOut(BaseModel):
    by: str
    items: list[RatingRow]


async def ratings(db: Db, by: str) -> list[RatingRow]:
    """Rated surveys grouped by official, pool (the operator who answered) or department."""
    key: Any = {"official": Official.slug, "pool": Survey.pool,
                "department": Official.department}[by]
    name: Any = {"official": Official.name, "pool": Survey.pool,
                 "department": Official.department}[by]
    counts = [func.count(Survey.id).filter(Survey.rating == n) for n in (1, 2, 3)]
    async with db() as session:
        rows = (await session.execute(
            select(key, func.min(name), *counts)
            .select_from(Survey).outerjoin(Official, Official.id == Survey.official_id)
            .where(Survey.rating.is_not(None), key.is_not(None))
            .group_by(key).order_by(key))).all()
    out = []
    for k, label, s, f, u in rows:
        rated = s + f + u
        out.append(RatingRow(key=str(k), name=str(label or k), rated=rated, satisfied=s,
                             fairly=f, unsatisfied=u,
                             satisfaction_pct=round(100 * (s + f) / rated, 1) if rated else None))
    return out


@routes.get(PATH, roles=READERS, query=SurveysQuery, response=SurveyList)
async def get_surveys(request: web.Request, query: SurveysQuery) -> SurveyList:
    """Satisfaction surveys (newest first), by call, case or number."""
    stmt = select(Survey).order_by(Survey.id.desc()).limit(query.limit)
    if query.call_id is not None:
        stmt = stmt.where(Survey.call_id == query.call_id)
    if query.case_id is not None:
        stmt = stmt.where(Survey.case_id == query.case_id)
    if query.number:
        stmt = stmt.where(Survey.number == query.number)
    async with request.config_dict[DB]() as session:
        items = (await session.scalars(stmt)).all()
    return SurveyList(items=[SurveyOut(
        id=s.id, call_id=s.call_id, case_id=s.case_id, number=s.number,
        official_id=s.official_id, pool=s.pool, attempt=s.attempt, state=s.state,
        rating=s.rating, result=s.result, linkedid=s.linkedid,
        due_at=s.due_at.isoformat()) for s in items])


@routes.get(f"{PATH}/ratings", roles=READERS, query=RatingsQuery, response=RatingsOut)
async def get_ratings(request: web.Request, query: RatingsQuery) -> RatingsOut:
    """Satisfaction ratings per official, pool or department."""
    return RatingsOut(by=query.by, items=await ratings(request.config_dict[DB], query.by))


@routes.get(f"{PATH}/ratings.csv", roles=READERS, query=RatingsQuery)
async def get_ratings_csv(request: web.Request, query: RatingsQuery) -> web.Response:
    """The ratings as CSV (UTF-8 with a BOM)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([query.by, "name", "rated", "satisfied", "fairly", "unsatisfied",
                     "satisfaction_pct"])
    for r in await ratings(request.config_dict[DB], query.by):
        writer.writerow([r.key, r.name, r.rated, r.satisfied, r.fairly, r.unsatisfied,
                         "" if r.satisfaction_pct is None else r.satisfaction_pct])
    return web.Response(body=("\ufeff" + out.getvalue()).encode(), content_type="text/csv",
                        charset="utf-8", headers={
                            "Content-Disposition": 'attachment; filename="ivr-ratings.csv"'})
