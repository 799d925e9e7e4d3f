// Admin pages: the custom-format switch, dataset uploads with progress, copy buttons, HTMX error notices.
(function () {
  "use strict";
  const $ = (sel, root = document) => root.querySelector(sel);
  const csrf = () => ($('meta[name="csrf-token"]') || {}).content || "";

  // --- refused HTMX requests: say why, in the page's live region -------------------------------------
  document.body.addEventListener("htmx:responseError", (event) => {
    const flash = $("#flash");
    if (!flash) return;
    const xhr = event.detail.xhr;
    flash.innerHTML = xhr.responseText && xhr.responseText.trim().startsWith("<")
      ? xhr.responseText
      : `<p class="alert error" role="alert">Request failed (${xhr.status}). Reload the page and try again.</p>`;
  });

  // --- systems: show the custom log_format input only when "Custom" is chosen ------------------------
  const preset = $("#preset");
  if (preset) {
    const customField = $("#log-format-field"), shown = $("#preset-format");
    const sync = () => {
      const option = preset.selectedOptions[0];
      const custom = !option || !option.dataset.format;
      customField.hidden = !custom;
      $("#log_format").required = custom;
      shown.hidden = custom;
      if (!custom) $("code", shown).textContent = option.dataset.format;
    };
    preset.addEventListener("change", sync);
    sync();
  }

  // --- copy buttons (token secrets, generated passwords) ---------------------------------------------
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const input = $(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(input.value);
      } catch (_) {
        input.select();
        document.execCommand("copy");
      }
      button.textContent = "Copied ✓";
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
  });

  // --- dataset upload: XHR with upload progress, then the ingest job's progress ----------------------
  const form = $("#upload-form");
  if (!form) return;
  const ui = {
    box: $("#upload-status"), button: $("#upload-button"), message: $("#upload-message"), error: $("#upload-error"),
    upload: [$("#upload-progress"), $("#upload-percent")], ingest: [$("#ingest-progress"), $("#ingest-percent")],
  };
  const setBar = ([bar, text], fraction) => {
    const pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
    bar.value = pct;
    bar.textContent = `${pct} %`;
    text.textContent = `${pct} %`;
  };
  const say = (text) => { ui.message.textContent = text; };
  const fail = (text) => {
    ui.error.textContent = text;
    ui.error.hidden = false;
    ui.button.disabled = false;
  };
  const detailText = (body, status) => {
    const detail = body && body.detail;
    if (typeof detail === "string") return detail;
    if (detail && detail.message) return detail.message + (detail.line_no ? ` (line ${detail.line_no})` : "");
    if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    return `the server answered ${status}`;
  };
  const refreshTable = () => { if (window.htmx && $("#datasets")) htmx.trigger("#datasets", "refresh"); };

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Error(detailText(body, response.status));
    return body;
  }

  async function followJob(jobId, datasetId) {
    for (;;) {
      let job;
      try {
        job = await getJSON(`/api/v1/jobs/${jobId}`);
      } catch (err) {
        return fail(`Could not read the ingest job: ${err.message}`);
      }
      setBar(ui.ingest, job.progress);
      if (job.status === "succeeded") break;
      if (job.status === "failed") {
        const dataset = await getJSON(`/api/v1/datasets/${datasetId}`).catch(() => null);
        const where = dataset && dataset.error_line ? ` (line ${dataset.error_line})` : "";
        refreshTable();
        return fail(`Ingest failed: ${(dataset && dataset.error) || job.error || job.message}${where}`);
      }
      say(`Ingesting: ${job.message || job.status}`);
      await new Promise((resolve) => setTimeout(resolve, 700));
    }
    const dataset = await getJSON(`/api/v1/datasets/${datasetId}`);
    setBar(ui.ingest, 1);
    say(`Dataset #${dataset.id} (${dataset.original_name}) is ${dataset.status}: ${dataset.line_count.toLocaleString()} lines, `
        + `${dataset.window_count.toLocaleString()} windows, ${dataset.template_count} templates.`);
    ui.box.dataset.state = dataset.status;
    ui.message.className = "alert ok";
    ui.button.disabled = false;
    refreshTable();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = $("#upload-file").files[0];
    ui.box.hidden = false;
    ui.error.hidden = true;
    ui.box.dataset.state = "uploading";
    ui.message.className = "muted";
    setBar(ui.upload, 0);
    setBar(ui.ingest, 0);
    if (!file) return fail("Choose a log file to upload.");
    if (file.size > Number(form.dataset.limit)) return fail(`${file.name} is larger than the upload limit.`);
    const systemId = $("#upload-system").value;
    const role = (form.querySelector('input[name="role"]:checked') || {}).value || "source";
    const body = new FormData();
    body.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/systems/${encodeURIComponent(systemId)}/datasets?role=${role}&ingest=true`);
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) setBar(ui.upload, e.loaded / e.total);
      say(`Uploading ${file.name}…`);
    };
    xhr.upload.onload = () => {
      setBar(ui.upload, 1);
      say("Uploaded; checking every line against the system's format…");
    };
    xhr.onerror = () => fail("The upload failed: the server could not be reached.");
    xhr.onload = () => {
      let answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (_) { /* not JSON: use the status */ }
      if (xhr.status !== 201) {
        ui.box.dataset.state = "failed";
        return fail(`The file was refused: ${detailText(answer, xhr.status)}`);
      }
      setBar(ui.upload, 1);
      refreshTable();
      if (!answer.job) {
        say(`Dataset #${answer.dataset.id} stored; it was not ingested.`);
        ui.button.disabled = false;
        return;
      }
      say(`Dataset #${answer.dataset.id}: ${answer.dataset.line_count.toLocaleString()} lines accepted; ingest queued.`);
      followJob(answer.job.id, answer.dataset.id);
    };
    ui.button.disabled = true;
    say(`Uploading ${file.name}…`);
    xhr.send(body);
  });
})();
