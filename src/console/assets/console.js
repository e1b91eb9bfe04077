// The console's only script: dialogs, copy buttons, and live updates over server-sent
// events. Pages work without it except for those three.
"use strict";

document.addEventListener("click", (ev) => {
  const t = ev.target.closest("button");
  if (!t) return;
  if (t.dataset.copy) {
    navigator.clipboard.writeText(t.dataset.copy).then(() => { t.textContent = "copied"; });
  } else if (t.dataset.dialog) {
    document.getElementById(t.dataset.dialog).showModal();
  } else if (t.hasAttribute("data-close")) {
    t.closest("dialog").close();
  }
});

document.addEventListener("submit", (ev) => {
  const msg = ev.target.dataset.confirm;
  if (msg && !window.confirm(msg)) ev.preventDefault();
});

// Re-render <main> when the stack changes, unless someone is in the middle of something.
function busy() {
  const a = document.activeElement;
  return document.querySelector("dialog[open]") ||
    (a && ["INPUT", "SELECT", "TEXTAREA"].includes(a.tagName) && a.value);
}

let pending = false;
async function refresh() {
  if (busy()) { pending = true; return; }
  pending = false;
  const r = await fetch(location.href, { headers: { Accept: "text/html" } });
  if (!r.ok) return;
  const doc = new DOMParser().parseFromString(await r.text(), "text/html");
  const fresh = doc.getElementById("live");
  if (fresh) document.getElementById("live").innerHTML = fresh.innerHTML;
}

function live() {
  const dot = document.getElementById("live-dot");
  const follow = !location.pathname.startsWith("/actions") && !document.getElementById("log");
  const es = new EventSource("/events");
  es.onopen = () => dot && dot.classList.add("on");
  es.onerror = () => dot && dot.classList.remove("on");
  es.addEventListener("change", () => { if (follow) refresh(); });
  setInterval(() => { if (pending && follow) refresh(); }, 1000);
}

function followLog() {
  const pre = document.getElementById("log");
  if (!pre || !pre.dataset.stream) return;
  const es = new EventSource(pre.dataset.stream);
  es.onmessage = (e) => {
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(document.createTextNode(e.data + "\n"));
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  };
  pre.scrollTop = pre.scrollHeight;
}

live();
followLog();
