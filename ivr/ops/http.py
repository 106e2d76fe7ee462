"""Alerts over HTTP: ``GET /metrics`` (Prometheus text format), ``GET /api/v1/alerts`` (JSON)
and the page ``/admin/alerts``; the monitor runs as a cleanup context of the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiohttp import web
from pydantic import BaseModel

from ivr.core.constants import API_PREFIX
from ivr.db.nodes import node_states
from ivr.http import DB, ROUTES, Routes, identity_of
from ivr.http.pages import MESSAGES, NAV, lang_of, render, t
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
    "alerts.since": ("开始于", "Since"), "alerts.detail": ("详情", "Detail"),
    "alerts.none": ("当前没有告警。", "No alert now."), "alerts.checks": ("检查项", "Checks"),
    "alerts.state": ("状态", "State"), "alerts.raised": ("告警中", "raised"),
    "alerts.pending": ("观察中", "pending"), "alerts.ok": ("正常", "ok"),
    "alerts.howto": ("每项告警的处理方法见运维文档；监控指标见",
                     "What to do about each alert: docs/operations.md; Prometheus metrics: /metrics."),
}
NODE_TEXTS: dict[str, tuple[str, str]] = {
    "nodes.title": ("各节点路由状态", "Each node's routing state"),
    "nodes.help": ("每个节点（控制器 + 电话交换机）按自己的路由镜像接听来电：镜像未同步或变更尚未应用的节点，"
                   "来电可能仍按旧设置处理。",
                   "Each node (controller + Asterisk) routes calls from its own mirror: a node "
                   "whose mirror is out of sync, or which has not applied a change yet, may still "
                   "route calls by the old settings."),
    "nodes.node": ("节点", "Node"), "nodes.mirror": ("路由镜像", "Mirror"),
    "nodes.feed": ("变更同步", "Changes applied"), "nodes.ami": ("交换机连接", "AMI"),
    "nodes.at": ("最近报告", "Last report"),
    "nodes.in_sync": ("已同步", "in sync"), "nodes.out_of_sync": ("未同步", "out of sync"),
    "nodes.up_to_date": ("已是最新", "up to date"), "nodes.behind": ("落后", "behind"),
    "nodes.connected": ("已连接", "connected"), "nodes.disconnected": ("已断开", "disconnected"),
    "nodes.stale": ("已停止报告", "stopped reporting"),
    "nodes.none": ("尚无节点报告状态。", "No node has reported yet."),
    "nodes.kind.routing": ("路由", "routing"), "nodes.kind.directory": ("目录", "directory"),
    "nodes.kind.operators": ("话务员", "operators"),
}
# each check's detail in words, with the reading's figures ({0}, {1}…)
DETAILS: dict[str, tuple[str, str]] = {
    "alerts.detail.ami_disconnected": ("与电话交换机的 AMI 连接已中断 {0} 秒",
                                       "AMI disconnected for {0} s"),
    "alerts.detail.mirror_out_of_sync": ("路由镜像已 {0} 秒未与数据库一致",
                                         "AstDB mirror out of sync for {0} s"),
    "alerts.detail.recorder_lag": ("最早未入库的通话事件已等待 {0} 秒；连续失败 {1} 秒",
                                   "oldest unrecorded journal line {0} s old; failing for {1} s"),
    "alerts.detail.journal_large": ("通话事件日志 {0} MB", "CEL journal {0} MiB"),
    "alerts.detail.disk_low": ("剩余空间 {0}", "{0} free"),
    "alerts.detail.asterisk_restarted": ("电话交换机已重启，当时进行中的通话已中断",
                                         "Asterisk restarted (calls in progress then were cut)"),
    "alerts.detail.transcription_backlog": ("{0} 条留言等待转写，最早的已等待 {1} 分钟",
                                            "{0} messages waiting, the oldest {1} min"),
    "alerts.detail.sip_bans": ("{0} 个 SIP 来源因登录失败被封禁",
                               "{0} SIP sources banned (failed logins)"),
    "alerts.detail.pool_unstaffed": ("工作时间内话务组无人就绪", "nobody ready in working hours"),
    "alerts.detail.backup_failed": ("最近一次定时备份失败", "the last scheduled backup failed"),
}


def detail_of(request: web.Request, kind: str, args: tuple[str, ...]) -> str:
    """A check's detail in the page's language ("" for a kind without words)."""
    key = f"alerts.detail.{kind}"
    if key not in DETAILS:
        return ""
    try:
        return t(request, key).format(*args)
    except IndexError:  # figures missing (an older reading): the words alone
        return t(request, key).split("{", 1)[0].strip()


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
    alerts = [{"kind": a.kind, "title": KINDS[a.kind][0 if lang == "zh" else 1],
               "subject": a.subject, "since": datetime.fromtimestamp(a.since, UTC),
               "detail": detail_of(request, a.kind, a.args), "code": a.code}
              for a in m.book.raised()]
    checks = []
    for (kind, subject), r in sorted(m.book.readings.items()):
        alert = m.book.alerts.get((kind, subject))
        state = "ok" if alert is None else ("pending" if alert.raised_at is None else "raised")
        checks.append({"title": KINDS[kind][0 if lang == "zh" else 1], "subject": subject,
                       "state": state, "detail": detail_of(request, kind, r.args), "code": r.code})
    ident = identity_of(request)
    shown = await node_states(request.config_dict[DB]) if ident and ident.role == "admin" else None
    return render(request, "ops/alerts.html", {"alerts": alerts, "checks": checks,
                                               "nodes": shown}, title="alerts.title")


async def monitor_context(app: web.Application) -> AsyncIterator[None]:
    monitor = app[MONITOR]
    monitor.start()
    yield
    await monitor.close()


def setup(app: web.Application, monitor: Monitor) -> None:
    app[MONITOR] = monitor
    app[MESSAGES].add(TEXTS)
    app[MESSAGES].add(DETAILS)
    app[MESSAGES].add(NODE_TEXTS)
    app[NAV].add(READERS, "/admin/alerts", "alerts.title")
    app[ROUTES].add(app, routes)
    app.cleanup_ctx.append(monitor_context)
