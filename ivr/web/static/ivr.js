// ivr web UI. The operator console listens to one EventSource (server push); it never polls.
"use strict";
(function () {
  const consoleEl = document.getElementById("live-call");
  if (!consoleEl) return;
  const i18n = JSON.parse(document.getElementById("i18n").dataset.text);
  const queueEl = document.getElementById("queue");
  const myQueue = queueEl.dataset.queue;
  const $ = (id) => document.getElementById(id);
  const text = (id, v) => { $(id).textContent = (v === undefined || v === null || v === "") ? "–" : String(v); };
  let oldest = null;

  function showQueue(queues) {
    const q = queues[myQueue] || { waiting: 0, oldest: null };
    $("q-waiting").textContent = String(q.waiting);
    oldest = q.oldest;
    tick();
  }
  function tick() {  // a local clock for the display only: no request is made
    $("q-longest").textContent = oldest ? String(Math.max(0, Math.round(Date.now() / 1000 - oldest))) : "0";
  }
  setInterval(tick, 1000);

  function showCall(c) {
    consoleEl.dataset.state = c.state;
    consoleEl.dataset.linkedid = c.linkedid || "";
    $("call-state").textContent = i18n[c.state] || c.state;
    const o = c.official;
    text("call-official", o ? (o.display_name + (o.department ? " · " + o.department : "")) : c.official_hint);
    text("call-dialed", c.dialed);
    text("call-caller", c.caller);
    const body = $("earlier").querySelector("tbody");
    body.replaceChildren();
    for (const e of (c.earlier || [])) {
      const tr = document.createElement("tr");
      const outcome = i18n["outcome." + e.outcome] || e.outcome;
      for (const v of [e.at || e.started_at, e.dialed, e.official, outcome]) {
        const td = document.createElement("td"); td.textContent = v || ""; tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    const form = document.getElementById("case-form");
    if (form) {
      for (const [k, v] of [["linkedid", c.linkedid], ["caller", c.caller], ["official", o ? o.slug : ""]]) {
        const input = form.querySelector(`[name="${k}"]`); if (input) input.value = v || "";
      }
    }
  }

  function showOperator(o) {  // my state and phone, when the phone (un)registers
    $("state").dataset.state = o.state;
    $("state").textContent = i18n["state." + o.state] || o.state;
    $("paused-reason").textContent = "(" + (o.paused_reason || "") + ")";
    $("paused-reason").hidden = o.state !== "paused";
    $("phone-status").dataset.status = o.phone;
    $("phone-status").textContent = i18n["phone." + o.phone] || o.phone;
  }

  const es = new EventSource("/console/events");
  es.addEventListener("queue", (ev) => showQueue(JSON.parse(ev.data)));
  es.addEventListener("call", (ev) => showCall(JSON.parse(ev.data)));
  es.addEventListener("operator", (ev) => showOperator(JSON.parse(ev.data)));
  es.addEventListener("open", () => { document.body.dataset.live = "1"; });
})();
