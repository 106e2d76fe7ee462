"""``ivr calendar import FILE [--allow-example]`` and ``ivr calendar show [--year Y]``.

With ``--api URL`` (or ``$IVR_API_URL``) the import goes through the controller's REST API;
without, it writes the database directly (running controllers reload routing through the change
feed, and the deadlines' calendar at their next sweep, ``[deadlines] sweep_seconds``). Either
way the deadlines of open cases are recomputed."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

from ivr.core.config import Config
from ivr.core.errors import InvalidCalendar
from ivr.db.feed import bump
from ivr.db.session import Db, with_db
from ivr.followup import calendar as cal
from ivr.followup.deadlines import Deadlines


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".csv":
        return "csv"
    raise InvalidCalendar(f"{path}: cannot tell the format from the extension (.yaml or .csv)")


async def _via_api(config: Config, base: str, path: Path, allow_example: bool) -> dict[str, object]:
    import aiohttp

    url = base.rstrip("/").removesuffix("/api/v1") + "/api/v1/calendar/import"
    token = os.environ.get("IVR_API_TOKEN") or config.http.api_token
    headers = {"Authorization": f"Bearer {token}",
               "Content-Type": "text/csv" if _format(path) == "csv" else "application/yaml"}
    params = {"allow_example": "true"} if allow_example else {}
    async with aiohttp.ClientSession() as http, http.post(
            url, data=path.read_bytes(), headers=headers, params=params) as response:
        body = await response.json(content_type=None)
    if response.status >= 400:
        raise InvalidCalendar(str(body.get("message", body)), body.get("details"))
    return dict(body)


def cli_calendar(args: argparse.Namespace) -> int:
    config = Config.load(args.config)
    if args.action == "import":
        if not args.file:
            raise InvalidCalendar("ivr calendar import needs the FILE to import")
        path = Path(args.file)
        if args.api:
            print(json.dumps(asyncio.run(_via_api(config, args.api, path, args.allow_example)),
                             ensure_ascii=False))
            return 0
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidCalendar(f"cannot read {path}: {exc}") from None
        spec = cal.parse_calendar(text, _format(path))

        async def work(db: Db) -> int:
            r = await cal.import_calendar(db, spec, Deadlines.of(config), args.actor,
                                          allow_example=args.allow_example)
            await bump(db, "routing")  # running controllers reload (holiday windows)
            print(f"imported {', '.join(map(str, r.years)) or 'no year'}: {r.holidays} holidays, "
                  f"{r.workdays} make-up working days"
                  f"{', weekly hours replaced' if r.week else ''}; deadlines of {r.recomputed} "
                  f"open cases moved")
            return 0
        return asyncio.run(with_db(config, work))

    async def show(db: Db) -> int:
        week, days = await cal.overview(db, args.year)
        for day, periods in week.items():
            print(f"{day}  {', '.join(periods)}")
        for d in days:
            print(f"{d.day.isoformat()}  {d.kind:8} {d.name}")
        return 0
    return asyncio.run(with_db(config, show))
