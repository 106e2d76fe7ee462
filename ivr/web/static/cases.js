// Cases: the console's quick "open a case from this call" form and the inbox's click-to-call-back.
// Both post JSON to the REST API with the session's CSRF token (X-CSRF-Token); nothing polls.
"use strict";
(function () {
  const csrf = document.body.dataset.csrf || "";
  const en = document.body.dataset.lang === "en";

  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return { ok: r.ok, status: r.status, data: data || {} };
  }
  function show(el, text) { el.textContent = text; el.hidden = !text; }
  // An API error as a person reads it: the page language's text for its error_id, the label of
  // the form field it names, then the service's (English) message.
  const errorTexts = JSON.parse(document.body.dataset.errors || "{}");
  function explain(r, form) {
    const data = r.data || {};
    const head = errorTexts[data.error_id] || "";
    const field = data.details && data.details.field;
    const input = form && field ? form.querySelector(`[name="${CSS.escape(String(field))}"]`) : null;
    const label = input && input.closest("label") ? input.closest("label").firstChild.textContent.trim() : "";
    return [head + (label ? `（${label}）` : ""), data.message || `HTTP ${r.status}`]
      .filter(Boolean).join(": ");
  }

  // --- console: open a case from the call shown -------------------------------------------
  const form = document.getElementById("case-form");
  if (form) {
    const summary = document.getElementById("case-summary");
    const result = document.getElementById("case-result");
    const error = document.getElementById("case-error");
    const opened = document.getElementById("case-i18n").dataset.opened;
    const live = document.getElementById("live-call");
    let focusedFor = "";
    // a new call connects: its case form is ready to type into
    const waiting = document.getElementById("case-wait");
    new MutationObserver(() => {
      const lid = live.dataset.linkedid || "";
      form.hidden = !lid;  // the form belongs to a call: none shown before the first one
      if (waiting) waiting.hidden = !!lid;
      if (lid && lid !== focusedFor && live.dataset.state === "connected") {
        focusedFor = lid;
        show(result, ""); show(error, "");
        summary.focus();
      }
    }).observe(live, { attributes: true, attributeFilter: ["data-state", "data-linkedid"] });
    summary.addEventListener("keydown", (ev) => {  // Enter submits, Shift+Enter: a new line
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const fd = new FormData(form);
      const body = { linkedid: fd.get("linkedid") || live.dataset.linkedid || "",
                     category: fd.get("category"), summary: fd.get("summary"),
                     urgency: fd.get("urgency") };
      show(result, ""); show(error, "");
      const btn = document.getElementById("case-submit");
      btn.disabled = true;
      try {
        const r = await post("/api/v1/cases", body);
        if (r.ok) {
          form.dataset.caseId = String(r.data.id);
          show(result, `${opened} #${r.data.id}` + (r.data.assigned_to ? ` → ${r.data.assigned_to}` : ""));
          summary.value = "";
        } else {
          show(error, explain(r, form));
        }
      } catch (e) {
        show(error, String(e));
      } finally {
        btn.disabled = false;
      }
    });
  }

  // --- inbox: click-to-call-back ------------------------------------------------------------
  for (const btn of document.querySelectorAll("button.cb")) {
    btn.addEventListener("click", async () => {
      const id = btn.dataset.case;
      const out = document.getElementById(`cb-result-${id}`);
      const endpoint = btn.dataset.endpoint;
      out.className = "cb-result"; out.textContent = "…";
      btn.disabled = true;
      try {
        const r = await post(`/api/v1/cases/${id}/callback`, { endpoint });
        if (r.ok) {
          out.classList.add("ok");
          out.dataset.state = r.data.state || "";
          // the state stays in data-state: "originating" is a value, not words
          out.textContent = en ? `Calling back ${r.data.number}: your phone ${r.data.endpoint} rings first`
            : `正在回拨 ${r.data.number}，先振铃您的电话 ${r.data.endpoint}`;
        } else {
          out.classList.add("error");
          out.textContent = explain(r, null);
        }
      } catch (e) {
        out.classList.add("error"); out.textContent = String(e);
      } finally {
        btn.disabled = false;
      }
    });
  }

  // --- inbox: an admin approves calling back an altered caller ID (audited) -----------------
  for (const btn of document.querySelectorAll("button.cb-approve")) {
    btn.addEventListener("click", async () => {
      const id = btn.dataset.case;
      const out = document.getElementById(`approve-result-${id}`);
      const reason = document.getElementById(`approve-reason-${id}`).value.trim();
      out.className = "cb-result"; out.textContent = "…";
      btn.disabled = true;
      try {
        const r = await post(`/api/v1/cases/${id}/callback-approval`, { reason });
        if (r.ok) {
          out.classList.add("ok"); out.textContent = btn.dataset.done;
        } else {
          out.classList.add("error"); out.textContent = explain(r, null);
          btn.disabled = false;
        }
      } catch (e) {
        out.classList.add("error"); out.textContent = String(e); btn.disabled = false;
      }
    });
  }
})();
