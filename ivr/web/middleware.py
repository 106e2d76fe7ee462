"""The one middleware every request passes: authorise it against the declared routes, then map
errors — JSON ``{error_id, message, details}`` under /api/v1, a page (or the sign-in page)
elsewhere. No error reaches a client as a stack trace; an unexpected one is logged and is a 500."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from ivr.core.errors import IvrError, NotSignedIn
from ivr.db.settings import current_timezone
from ivr.http import DB
from ivr.http.pages import TZ
from ivr.web import auth

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorPage = Callable[[web.Request, IvrError], web.StreamResponse]
ERROR_PAGE = web.AppKey[ErrorPage]("error_page")
_HTTP_ERROR_IDS = {404: "not-found", 405: "method-not-allowed", 413: "body-too-large"}


def _json_error(exc: IvrError) -> web.Response:
    response = web.json_response(exc.to_json(), status=exc.status)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ivr"'
    return response


async def _api(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        request = await auth.authorize(request)
        return await handler(request)
    except IvrError as exc:
        return _json_error(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = web.json_response({"error_id": _HTTP_ERROR_IDS.get(exc.status, "http-error"),
                                      "message": exc.reason, "details": {}}, status=exc.status)
        if "Allow" in exc.headers:  # 405: the methods the path has
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("API %s %s failed", request.method, request.path)
        return web.json_response({"error_id": "internal-error", "message": "internal error",
                                  "details": {}}, status=500)


async def _page(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        request = await auth.authorize(request)
    except NotSignedIn:
        if request.method == "GET" and request.match_info.route.resource is not None:
            raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs)}") from None
        return web.Response(status=401, text="请先登录 / please sign in")
    except IvrError as exc:  # Forbidden, CsrfFailed
        return request.config_dict[ERROR_PAGE](request, exc)
    if not request.path.startswith("/static/"):
        request[TZ] = await current_timezone(request.config_dict[DB])  # pages show local times
    try:
        return await handler(request)
    except IvrError as exc:  # e.g. an unknown official in the path
        return request.config_dict[ERROR_PAGE](request, exc)


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if auth.is_api(request):
        return await _api(request, handler)
    return await _page(request, handler)
