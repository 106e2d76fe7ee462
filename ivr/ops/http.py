"""Alerts over HTTP: ``GET /metrics`` (Prometheus text format), ``GET /api/v1/alerts`` (JSON)
and the page ``/admin/alerts``; the monitor runs as a cleanup context of the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiohttp import web
from pydantic import BaseModel

from ivr.core.constants import API_PREFIX
from ivr.http import ROUTES, Routes
from ivr.http.pages import MESSAGES, NAV, lang_of, render
from ivr.ops.alerts import KINDS, Alert
from ivr.ops.monitor import Monitor

routes = Routes("alerts")
READERS = ("admin", "supervisor")
MONITOR = web.AppKey("monitor", Monitor)
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"

TEXTS: dict[str, tuple[str, str]] = {
    "alerts.title": ("运行告警", "Alerts"),
    "alerts.intro": ("本节点的健康检查；条件消失后告警自动解除。",
                     "This node's health checks; an alert clears itself when its condition ends."),
    "alerts.alert": ("告警", "Alert"), "alerts.subject": ("对象", "Subject"),
    "alerts.since": ("开始于", "Since"), "alerts.detail": ("详情（技术信息）", "Detail"),
    "alerts.none": ("当前没有告警。", "No alert now."), "alerts.checks": ("检查项", "Checks"),
    "alerts.state": ("状态", "State"), "alerts.raised": ("告警中", "raised"),
    "alerts.pending": ("观察中", "pending"), "alerts.ok": ("正常", "ok"),
    "alerts.howto": ("每项告警的处理方法见运维文档；监控指标见",
                     "What to do about each alert: docs/operations.md; Prometheus metrics: /metrics."),
}


class AlertOut(BaseModel):
    kind: str
    title: str
    subject: str
    since: datetime
    raised_at: datetime
    detail: str
    value: float

    @classmethod
    def of(cls, a: Alert, lang: str = "zh") -> AlertOut:
        assert a.raised_at is not None
        return cls(kind=a.kind, title=KINDS[a.kind][0 if lang == "zh" else 1], subject=a.subject,
                   since=datetime.fromtimestamp(a.since, UTC),
                   raised_at=datetime.fromtimestamp(a.raised_at, UTC), detail=a.detail,
                   value=a.value)


class AlertsOut(BaseModel):
    node: str
    rounds: int
    items: list[AlertOut]


@routes.get("/metrics", roles=READERS)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics of this node (text exposition format 0.0.4): gauges and one
    ``ivr_alert`` series per alert and subject. Scrape with the deployment's bearer token."""
    from ivr.ops.alerts import metrics_text

    m = request.config_dict[MONITOR]
    body = metrics_text(m.book, m.gauges, m.config.node.name)
    return web.Response(body=body.encode(), headers={"Content-Type": PROMETHEUS})


@routes.get(f"{API_PREFIX}/alerts", roles=READERS, response=AlertsOut,
            summary="The alerts raised on this node now")
async def api_alerts(request: web.Request) -> AlertsOut:
    m = request.config_dict[MONITOR]
    return AlertsOut(node=m.config.node.name, rounds=m.rounds,
                     items=[AlertOut.of(a) for a in m.book.raised()])


@routes.get("/admin/alerts", roles=READERS)
async def alerts_page(request: web.Request) -> web.Response:
    """The alerts raised now and every check's state."""
    m, lang = request.config_dict[MONITOR], lang_of(request)
    alerts = [AlertOut.of(a, lang) for a in m.book.raised()]
    checks = []
    for (kind, subject), r in sorted(m.book.readings.items()):
        alert = m.book.alerts.get((kind, subject))
        state = "ok" if alert is None else ("pending" if alert.raised_at is None else "raised")
        checks.append({"title": KINDS[kind][0 if lang == "zh" else 1], "subject": subject,
                       "state": state, "detail": r.detail})
    return render(request, "ops/alerts.html", {"alerts": alerts, "checks": checks},
                  title="alerts.title")


async def monitor_context(app: web.Application) -> AsyncIterator[None]:
    monitor = app[MONITOR]
    monitor.start()
    yield
    await monitor.close()


def setup(app: web.Application, monitor: Monitor) -> None:
    app[MONITOR] = monitor
    app[MESSAGES].add(TEXTS)
    app[NAV].add(READERS, "/admin/alerts", "alerts.title")
    app[ROUTES].add(app, routes)
    app.cleanup_ctx.append(monitor_context)
