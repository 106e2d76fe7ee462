// The supervisors' wallboard: one EventSource (server push), the whole board in each "board"
// event; the page never polls (a local clock only ticks the longest wait).
"use strict";
(function () {
  const root = document.getElementById("wallboard");
  if (!root) return;
  const counts = ["ready", "paused", "on_call", "unregistered"];
  const cell = (text, cls) => {
    const td = document.createElement("td");
    td.textContent = String(text);
    if (cls) td.className = cls;
    return td;
  };
  function tick() {
    for (const td of document.querySelectorAll(".wb-longest")) {
      const oldest = parseFloat(td.dataset.oldest);
      td.textContent = oldest ? String(Math.max(0, Math.round(Date.now() / 1000 - oldest))) : "0";
    }
  }
  function show(b) {
    const body = document.querySelector("#wb-pools tbody");
    body.replaceChildren();
    for (const p of b.pools) {
      const tr = document.createElement("tr");
      tr.dataset.queue = p.queue;
      const name = cell("");
      const code = document.createElement("code");
      code.textContent = p.name;
      name.appendChild(code);
      tr.appendChild(name);
      const waiting = cell(p.waiting, "wb-waiting");
      waiting.dataset.waiting = String(p.waiting);
      tr.appendChild(waiting);
      const longest = cell("0", "wb-longest");
      longest.dataset.oldest = p.oldest ? String(p.oldest) : "";
      tr.appendChild(longest);
      for (const c of counts) tr.appendChild(cell(p[c], "wb-" + c));
      body.appendChild(tr);
    }
    for (const tile of document.querySelectorAll("#wb-today .wb-tile")) {
      const o = tile.dataset.outcome;
      tile.querySelector(".wb-n").textContent = String(o === "total" ? b.total : (b.today[o] || 0));
    }
    tick();
  }
  setInterval(tick, 1000);
  const es = new EventSource("/wallboard/events");
  es.addEventListener("board", (ev) => show(JSON.parse(ev.data)));
  es.addEventListener("open", () => { document.body.dataset.live = "1"; });
})();
