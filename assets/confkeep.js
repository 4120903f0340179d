// confkeep's page script: the API token (kept in this tab's sessionStorage
// only, sent as a bearer token), the buttons that call the API, the diff.
// The pages work without it; it only adds what needs the token.
"use strict";

const TOKEN_KEY = "confkeep-api-token";

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  if (token()) h["Authorization"] = "Bearer " + token();
  return h;
}

function say(text, ok) {
  const out = document.getElementById("action-result");
  out.textContent = text;
  out.className = ok ? "ok" : "fail";
}

function showTokenState() {
  const state = document.getElementById("token-state");
  if (state) state.textContent = token() ? "token set for this tab" : "";
}

async function errorText(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body.error) return body.error;
    if (body.reply) return body.reply + (body.message ? ": " + body.message : "");
  } catch (_) { /* not JSON */ }
  return text.slice(0, 200);
}

async function deviceSeq(device) {
  const r = await fetch("/v1/devices/" + encodeURIComponent(device), { headers: headers(false) });
  if (!r.ok) return null;
  return (await r.json()).seq;
}

// After an accepted command, wait until the device's log moves on (the
// command is recorded), then show the page as the log now says.
async function reloadWhenRecorded(device, seqBefore) {
  for (let i = 0; i < 40; i++) {
    const seq = await deviceSeq(device);
    if (seq !== null && seq !== seqBefore) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  location.reload();
}

async function post(button) {
  const label = button.dataset.label;
  const device = button.dataset.device;
  button.disabled = true;
  say(label + " …", true);
  try {
    const seqBefore = await deviceSeq(device);
    const body = button.dataset.body;
    const r = await fetch(button.dataset.post, {
      method: "POST",
      headers: headers(Boolean(body)),
      body: body || undefined,
    });
    if (!r.ok) {
      const why = await errorText(r);
      const hint = r.status === 401 || r.status === 403 ? " (enter the API token above)" : "";
      say(label + ": " + r.status + " " + why + hint, false);
      return;
    }
    say(label + ": " + r.status + " accepted", true);
    await reloadWhenRecorded(device, seqBefore);
  } catch (e) {
    say(label + ": " + e, false);
  } finally {
    button.disabled = false;
  }
}

function checked(name) {
  const input = document.querySelector('input[name="' + name + '"]:checked');
  return input ? input.value : "";
}

async function showDiff(button) {
  const out = document.getElementById("diff");
  const query = new URLSearchParams({ old: checked("old") || checked("new"), new: checked("new") });
  const url = "/v1/devices/" + encodeURIComponent(button.dataset.device) + "/diff?" + query;
  out.textContent = "…";
  const r = await fetch(url, { headers: headers(false) });
  if (!r.ok) {
    const hint = r.status === 401 || r.status === 403 ? " (a diff shows config text: enter the API token above)" : "";
    out.textContent = r.status + " " + (await errorText(r)) + hint;
    return;
  }
  const d = await r.json();
  out.textContent = "";
  const head = document.createElement("div");
  head.className = "diff-head";
  head.textContent = d.old.slice(0, 12) + " → " + d.new.slice(0, 12) + ": +" + d.added + " −" + d.removed;
  out.appendChild(head);
  for (const line of (d.diff || "(the two configs are the same)\n").split("\n")) {
    const span = document.createElement("span");
    span.className = line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
    span.textContent = line + "\n";
    out.appendChild(span);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const input = document.getElementById("token");
  if (input) {
    input.value = token();
    input.addEventListener("input", () => {
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      showTokenState();
    });
  }
  showTokenState();
  for (const b of document.querySelectorAll("button[data-post]")) {
    b.addEventListener("click", () => post(b));
  }
  const diff = document.getElementById("show-diff");
  if (diff) diff.addEventListener("click", () => showDiff(diff));
});
