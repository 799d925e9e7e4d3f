// The labeling queue in the browser: keyboard shortcuts, marking lines, the unsure reason, and making every
// failed save visible (the window stays on screen, the choice can be retried with the same idempotency key).
(function () {
  "use strict";

  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));
  const NAMES = { normal: "Normal", anomaly: "Anomaly", unsure: "Unsure", skip: "Skip" };
  let lastChoice = null; // {value, window} of the answer being saved, for the error banner and Retry

  const form = () => $("#lab-form");

  function typing(el) {
    return !!el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  // --- answering -------------------------------------------------------------------------------------------

  function submitButton(value) {
    const f = form();
    return f ? $(`button[type=submit][name=value][value="${value}"]`, f) : null;
  }

  function choose(value) {
    if (value === "unsure") {
      openUnsure();
      return;
    }
    const button = submitButton(value);
    if (button) button.click();
  }

  function openUnsure() {
    const box = $("#unsure-box");
    const toggle = $("[data-unsure]");
    if (!box) return;
    box.hidden = false;
    if (toggle) toggle.setAttribute("aria-expanded", "true");
    const reason = $("#reason");
    reason.focus();
    reason.select();
  }

  function closeUnsure() {
    const box = $("#unsure-box");
    if (!box) return;
    box.hidden = true;
    $(".reason-error", box)?.remove();
    const toggle = $("[data-unsure]");
    if (toggle) {
      toggle.setAttribute("aria-expanded", "false");
      toggle.focus();
    }
  }

  function saveUnsure() {
    const reason = $("#reason");
    if (!reason.value.trim()) {
      const box = $("#unsure-box");
      if (!$(".reason-error", box)) {
        const p = document.createElement("p");
        p.className = "reason-error";
        p.setAttribute("role", "alert");
        p.textContent = "Type a few words on why you are unsure first.";
        box.appendChild(p);
      }
      reason.focus();
      return;
    }
    submitButton("unsure").click();
  }

  // --- marking lines (toggle buttons with a roving tab stop) ------------------------------------------------

  function toggleLine(button) {
    const pressed = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(pressed));
    const box = button.nextElementSibling;
    if (box && box.type === "checkbox") box.checked = pressed;
    updateMarkedCount();
  }

  function updateMarkedCount() {
    const out = $("[data-marked-count]");
    if (!out) return;
    const n = $$(".ln[aria-pressed=true]").length;
    out.textContent = n ? `${n} line${n === 1 ? "" : "s"} marked.` : "";
  }

  function moveLine(from, step) {
    const lines = $$(".ln");
    const at = lines.indexOf(from);
    const to = lines[Math.min(lines.length - 1, Math.max(0, at + step))];
    if (!to || to === from) return;
    from.tabIndex = -1;
    to.tabIndex = 0;
    to.focus();
  }

  // --- errors: visible, with the choice kept ----------------------------------------------------------------

  function messageOf(xhr) {
    if (!xhr || xhr.status === 0) return "the server could not be reached (offline?).";
    const type = xhr.getResponseHeader("content-type") || "";
    let text = "";
    try {
      if (type.includes("json")) {
        const detail = JSON.parse(xhr.responseText).detail;
        text = typeof detail === "string" ? detail : JSON.stringify(detail);
      } else if (type.includes("text/plain")) {
        text = xhr.responseText;
      }
    } catch (e) { /* fall back to the status below */ }
    text = (text || `the server answered ${xhr.status} ${xhr.statusText || ""}`).trim();
    return /[.!?]$/.test(text) ? text : `${text}.`;
  }

  function showError(kind, xhr) {
    const banner = $("#lab-error");
    if (!banner) return;
    const reason = messageOf(xhr);
    let text;
    if (kind === "save" && lastChoice) {
      text = `Your answer “${NAMES[lastChoice.value] || lastChoice.value}” for window ${lastChoice.window} was not stored: ${reason} The window is still here; press Retry or the key again.`;
      markPending(lastChoice.value);
    } else {
      text = `Could not load the window: ${reason} Press Retry.`;
    }
    banner.hidden = false;
    $("[data-msg]", banner).textContent = text;
    banner.dataset.kind = kind;
  }

  function hideError() {
    const banner = $("#lab-error");
    if (banner) banner.hidden = true;
    $$(".act.pending").forEach((b) => b.classList.remove("pending"));
  }

  function markPending(value) {
    $$(".act.pending").forEach((b) => b.classList.remove("pending"));
    const button = value === "unsure" ? $("[data-unsure]") : submitButton(value);
    if (button) button.classList.add("pending");
  }

  function retry() {
    const banner = $("#lab-error");
    if (banner && banner.dataset.kind === "save" && lastChoice && form()) {
      if (lastChoice.value === "unsure") saveUnsure();
      else choose(lastChoice.value);
    } else {
      htmx.ajax("GET", `/projects/${$(".lab").dataset.project}/label/next`, { target: "#workspace", swap: "outerHTML" });
    }
  }

  function isWorkspaceRequest(detail) {
    const elt = detail.elt;
    return !!elt && (elt.id === "lab-form" || !!elt.closest?.("#workspace")) && !elt.closest?.("#evidence");
  }

  // While the answer is being saved or the next window is being put in place, label keys are ignored: an
  // answer must only ever go to a window the operator has seen, and the new buttons must be wired first.
  let busySince = 0;
  function setBusy(busy) {
    busySince = busy ? Date.now() : 0;
    document.body.dataset.labState = busy ? "busy" : "ready";
  }
  const isBusy = () => busySince && Date.now() - busySince < 20000; // a lost event must not lock the keys

  document.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail.elt;
    if (!isWorkspaceRequest(event.detail)) return;
    setBusy(true);
    if (elt && elt.id === "lab-form") {
      const submitter = event.detail.requestConfig?.triggeringEvent?.submitter;
      const value = submitter && submitter.name === "value" ? submitter.value : null;
      if (value) lastChoice = { value, window: $("input[name=window_id]", elt).value };
      elt.setAttribute("aria-busy", "true");
    }
  });

  document.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.elt && event.detail.elt.id === "lab-form") event.detail.elt.removeAttribute("aria-busy");
    if (isWorkspaceRequest(event.detail) && !event.detail.successful) setBusy(false);
  });

  document.addEventListener("htmx:responseError", (event) => {
    if (isWorkspaceRequest(event.detail)) {
      showError(event.detail.elt.id === "lab-form" ? "save" : "load", event.detail.xhr);
    }
  });

  for (const name of ["htmx:sendError", "htmx:timeout"]) {
    document.addEventListener(name, (event) => {
      if (isWorkspaceRequest(event.detail)) {
        setBusy(false);
        showError(event.detail.elt.id === "lab-form" ? "save" : "load", null);
      }
    });
  }

  let settled = null; // the #workspace element last put in place
  document.addEventListener("htmx:afterSettle", () => {
    const ws = document.getElementById("workspace");
    if (!ws || ws === settled) return; // evidence and other swaps leave the workspace alone
    settled = ws;
    hideError();
    const title = $("#ws-title");
    const lost = !document.activeElement || document.activeElement === document.body;
    if (title && lost) { // focus was in the replaced window: give it to the new one, not to the page top
      title.focus({ preventScroll: true });
      ws.scrollIntoView({ block: "nearest" });
    }
    updateMarkedCount();
    setBusy(false);
  });

  // --- clicks and keys --------------------------------------------------------------------------------------

  document.addEventListener("click", (event) => {
    const el = event.target.closest("button");
    if (!el) return;
    if (el.matches(".ln")) toggleLine(el);
    else if (el.matches("[data-unsure]")) {
      if ($("#unsure-box").hidden) openUnsure(); else closeUnsure();
    } else if (el.matches("[data-save-unsure]") && !$("#reason").value.trim()) {
      event.preventDefault();
      saveUnsure();
    } else if (el.matches("[data-help]")) $("#lab-help").showModal();
    else if (el.matches("[data-retry]")) retry();
    else if (el.matches("[data-dismiss]")) hideError();
  });

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const help = $("#lab-help");
    if (help && help.open) return; // the dialog handles Esc and its own focus
    const target = event.target;
    if (target && target.id === "reason") {
      if (event.key === "Enter") {
        event.preventDefault(); // an implicit submit would pick the form's first button (Normal)
        saveUnsure();
      } else if (event.key === "Escape") {
        event.preventDefault();
        closeUnsure();
      }
      return;
    }
    if (typing(target)) return;
    if (target && target.matches && target.matches(".ln")) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        moveLine(target, event.key === "ArrowDown" ? 1 : -1);
        return;
      }
    }
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const action = {
      n: () => choose("normal"),
      a: () => choose("anomaly"),
      s: () => choose("skip"),
      u: () => choose("unsure"),
      z: () => { const back = $("[data-back]"); if (back && !back.disabled) back.click(); },
      "?": () => help && help.showModal(),
      Escape: () => { const leave = $("[data-leave]"); if (leave) leave.click(); },
    }[key];
    if (!action) return;
    event.preventDefault();
    if (event.repeat) return; // a held key must not answer window after window
    if (isBusy() && key !== "?") return;
    action();
  });

  document.addEventListener("DOMContentLoaded", () => {
    settled = document.getElementById("workspace");
    updateMarkedCount();
    setBusy(false);
  });
})();
