"""The working calendar over HTTP: ``GET /api/v1/calendar``, ``POST /api/v1/calendar/import``
(YAML, or CSV with Content-Type text/csv) and the admin page ``/admin/calendar`` (the year's
holidays and make-up days, the weekly hours, an upload form). See ``ivr.followup.calendar``.
An import reloads routing (holiday schedule windows) like any routing change."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, Field

from ivr.core.constants import API_PREFIX
from ivr.core.errors import InvalidCalendar, IvrError
from ivr.followup import calendar as cal
from ivr.followup.keys import PIPELINE
from ivr.http import DB, Routes, require_identity
from ivr.http.inputs import actor_of
from ivr.http.keys import on_change_of
from ivr.http.pages import MESSAGES, NAV, error_text, render

routes = Routes("calendar")
PATH = f"{API_PREFIX}/calendar"
MAX_FILE = 256 * 1024
TEXTS: dict[str, tuple[str, str]] = {
    "calendar.title": ("工作日历", "Working calendar"),
    "calendar.week": ("每周工作时间", "Weekly working hours"),
    "calendar.days": ("节假日与调休", "Holidays and make-up days"),
    "calendar.date": ("日期", "Date"), "calendar.kind": ("类型", "Kind"),
    "calendar.name": ("名称", "Name"),
    "calendar.kind.holiday": ("放假", "holiday"), "calendar.kind.workday": ("调休上班", "make-up day"),
    "calendar.import": ("导入 (YAML/CSV)", "Import (YAML/CSV)"),
    "calendar.day.mon": ("周一", "Monday"), "calendar.day.tue": ("周二", "Tuesday"),
    "calendar.day.wed": ("周三", "Wednesday"), "calendar.day.thu": ("周四", "Thursday"),
    "calendar.day.fri": ("周五", "Friday"), "calendar.day.sat": ("周六", "Saturday"),
    "calendar.day.sun": ("周日", "Sunday"),
    "calendar.allow_example": ("示例文件已按国务院通知核对", "the example was checked against "
                                                        "the State Council's notice"),
    "calendar.imported": ("已导入", "Imported"),
    "calendar.hint": ("每年按国务院办公厅放假通知导入；示例文件须先核对。",
                      "Import each year from the State Council's holiday notice; check the "
                      "example file first."),
}


def _yes(value: object) -> object:
    return value in ("1", "true", "yes", "on", True) if isinstance(value, (str, bool)) else value


class CalendarQuery(BaseModel):
    year: int | None = Field(None, ge=2000, le=2100, description="only this year's days")


class CalendarImportQuery(BaseModel):
    allow_example: Annotated[bool, BeforeValidator(_yes)] = Field(
        False, description="import a file marked status: example (after checking its dates)")


class CalendarDayOut(BaseModel):
    date: str
    kind: str = Field(json_schema_extra={"enum": ["holiday", "workday"]})
    name: str


class CalendarOut(BaseModel):
    week: dict[str, list[str]] = Field(description="weekly working hours, e.g. "
                                                   "{\"mon\": [\"09:00-12:00\"]}")
    days: list[CalendarDayOut]


class CalendarImportOut(BaseModel):
    years: list[int]
    holidays: int
    workdays: int
    week: dict[str, list[str]] | None
    recomputed: int = Field(description="open cases whose deadlines moved")


async def _overview(request: web.Request, year: int | None) -> CalendarOut:
    if year is not None and not 2000 <= year <= 2100:
        raise InvalidCalendar("year must be 2000..2100", {"year": year})
    week, days = await cal.overview(request.config_dict[DB], year)
    return CalendarOut(week=week, days=[CalendarDayOut(date=d.day.isoformat(), kind=d.kind,
                                                       name=d.name) for d in days])


async def _import(request: web.Request, text: str, fmt: str, allow_example: bool,
                  actor: str) -> CalendarImportOut:
    spec = cal.parse_calendar(text, fmt)
    result = await cal.import_calendar(request.config_dict[DB], spec,
                                       request.config_dict[PIPELINE].deadlines, actor,
                                       allow_example=allow_example)
    hook = on_change_of(request)  # holiday windows: the routing snapshot and the AstDB mirror
    if hook is not None:
        await hook(None)
    return CalendarImportOut(years=result.years, holidays=result.holidays,
                             workdays=result.workdays, week=result.week,
                             recomputed=result.recomputed)


@routes.get(PATH, roles=["admin", "supervisor"], query=CalendarQuery, response=CalendarOut)
async def get_calendar(request: web.Request, query: CalendarQuery) -> CalendarOut:
    """The working calendar: weekly hours, holidays and make-up working days."""
    return await _overview(request, query.year)


@routes.post(f"{PATH}/import", roles=["admin"], query=CalendarImportQuery,
             response=CalendarImportOut, errors=[202],
             raw_body={"application/yaml": {"type": "object",
                                            "description": "year, holidays, workdays"},
                       "text/csv": {"type": "string"}})
async def post_import(request: web.Request, query: CalendarImportQuery) -> CalendarImportOut:
    """Import a year's holidays and make-up days (replaces that year); open cases' deadlines
    are recomputed."""
    fmt = "csv" if request.content_type in ("text/csv", "application/csv") else "yaml"
    raw = await request.read()
    if len(raw) > MAX_FILE:
        raise InvalidCalendar("the file is larger than 256 KB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidCalendar("the calendar must be UTF-8 text") from None
    return await _import(request, text, fmt, query.allow_example, actor_of(request))


async def calendar_page(request: web.Request, *, error: str = "", status: int = 200,
                        done: CalendarImportOut | None = None) -> web.Response:
    data = await _overview(request, None)
    return render(request, "followup/calendar.html",
                  {"week": data.week, "days": data.days, "done": done},
                  title="calendar.title", error=error, status=status)


@routes.get("/admin/calendar", roles=["admin"])
async def admin_calendar(request: web.Request) -> web.Response:
    return await calendar_page(request)


@routes.post("/admin/calendar", roles=["admin"])
async def post_calendar(request: web.Request) -> web.Response:
    """Upload a calendar file (YAML, or .csv)."""
    form = await request.post()
    field = form.get("file")
    data = field.file.read(MAX_FILE + 1) if isinstance(field, web.FileField) else b""
    name = field.filename if isinstance(field, web.FileField) else ""
    try:
        if not data or len(data) > MAX_FILE:
            raise InvalidCalendar("choose a YAML or CSV file of at most 256 KB",
                                  {"field": "file"})
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidCalendar("the calendar must be UTF-8 text") from None
        done = await _import(request, text, "csv" if name.lower().endswith(".csv") else "yaml",
                             form.get("allow_example") == "1", require_identity(request).actor)
    except IvrError as exc:
        return await calendar_page(request, error=error_text(request, exc), status=exc.status)
    return await calendar_page(request, done=done)


def setup(app: web.Application) -> None:
    app[MESSAGES].add(TEXTS)
    app[NAV].add(["admin"], "/admin/calendar", "calendar.title")
