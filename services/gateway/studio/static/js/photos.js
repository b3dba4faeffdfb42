// Photos: drop many product photos, upload each through a presigned PUT (per-file progress), choose the
// virtual model and the steps, follow every job live (SSE), compare before/after, download one or all.
import { api, followEvents, sleep, uploadFile } from "./api.js";
import { $, errorText, h, saveBlob, slug, toast } from "./dom.js";
import { t } from "./i18n.js";
import { load as loadModels, licenceOf, models as knownModels } from "./models.js";
import { makeZip } from "./zip.js";

export const LOOKS = ["natural", "autumn-warm", "summer-cool", "spring-fresh", "winter-berry", "evening-red"];
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
const ACCEPTED = new Set(["image/jpeg", "image/png", "image/webp"]);
const MAX_STREAMS = 3; // browsers allow ~6 HTTP/1.1 connections per origin: keep some for the API calls
const UPLOAD_CONCURRENCY = 3;

let items = []; // {uid, file, before, state, progress, uploadId, job, error, row}
let uid = 0;
let activeStreams = 0;
const streamQueue = [];

export function reset() {
  for (const item of items) URL.revokeObjectURL(item.before);
  items = [];
  $("#photo-list").replaceChildren();
  $("#photos-status").textContent = "";
  $("#download-all").disabled = true;
}

export async function init() {
  const zone = $("#dropzone");
  const input = $("#files");
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    addFiles(e.dataTransfer.files);
  });
  input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });
  for (const [box, options] of [["#step-enhance", "#enhance-options"], ["#step-makeup", "#makeup-options"]]) {
    const sync = () => { $(options).disabled = !$(box).checked; };
    $(box).addEventListener("change", sync);
    sync();
  }
  // only the swap needs a virtual model: enhance or makeup alone must not be blocked by an empty list
  const syncModel = () => { $("#model-select").required = $("#step-swap").checked; };
  $("#step-swap").addEventListener("change", syncModel);
  syncModel();
  $("#makeup-intensity").addEventListener("input", (e) => { $("#makeup-intensity-value").textContent = Number(e.target.value).toFixed(2); });
  $("#photos-form").addEventListener("submit", (e) => { e.preventDefault(); start(); });
  $("#download-all").addEventListener("click", downloadAll);
  $("#clear-photos").addEventListener("click", reset);
  $("#compare-close").addEventListener("click", () => $("#compare-dialog").close());
  $("#compare-range").addEventListener("input", (e) => setSplit(e.target.value));
  const compare = $("#compare");
  const drag = (e) => {
    const rect = compare.getBoundingClientRect();
    setSplit(Math.round(Math.max(0, Math.min(1, (e.clientX - rect.left) / rect.width)) * 100));
  };
  compare.addEventListener("pointerdown", (e) => { compare.setPointerCapture(e.pointerId); drag(e); });
  compare.addEventListener("pointermove", (e) => { if (compare.hasPointerCapture(e.pointerId)) drag(e); });
}

export async function show() {
  renderLooks();
  let models = [];
  try { models = await loadModels(); } catch (err) { toast(errorText(err), true); }
  const select = $("#model-select");
  const wanted = new URLSearchParams(location.hash.split("?")[1] || "").get("model") || select.value;
  select.replaceChildren(...models.map((m) => {
    const { commercial } = licenceOf(m);
    return h("option", { value: m.id }, commercial ? m.name : `${m.name} (${t("models.nonCommercial")})`);
  }));
  if (!models.length) select.append(h("option", { value: "", disabled: true }, t("photos.noModels")));
  if (wanted && models.some((m) => m.id === wanted)) select.value = wanted;
  for (const item of items) renderItem(item);
  updateSummary();
}

function renderLooks() {
  const select = $("#makeup-look");
  const value = select.value || "natural";
  select.replaceChildren(...LOOKS.map((l) => h("option", { value: l }, t(`looks.${l}`))));
  select.value = value;
}

function addFiles(fileList) {
  let rejected = 0;
  for (const file of fileList) {
    if (!ACCEPTED.has(file.type)) { rejected++; continue; }
    const item = { uid: ++uid, file, before: URL.createObjectURL(file), state: "ready", progress: 0 };
    items.push(item);
    item.row = h("li", { class: "photo", "data-name": file.name });
    $("#photo-list").append(item.row);
    renderItem(item);
  }
  if (rejected) toast(t("photos.rejected", { n: rejected }), true);
  updateSummary();
}

function stateText(item) {
  switch (item.state) {
    case "ready": return t("photos.state.ready");
    case "uploading": return t("photos.state.uploading", { pct: Math.round(item.progress * 100) });
    case "uploaded": return t("photos.state.uploaded");
    case "queued": return t("photos.state.queued");
    case "running": return t("photos.state.running", { step: item.stepText || "" });
    case "succeeded": return t("photos.state.succeeded");
    case "failed": return `${t("photos.state.failed")}: ${item.error || ""}`;
    case "canceled": return t("photos.state.canceled");
    default: return item.state;
  }
}

function jobProgress(job) {
  if (!job) return 0;
  if (TERMINAL.has(job.status)) return 1;
  const steps = job.steps || [];
  const done = steps.filter((s) => s.status === "succeeded").length;
  const running = steps.some((s) => s.status === "running") ? 0.5 : 0;
  return steps.length ? (done + running) / steps.length : 0;
}

function renderItem(item) {
  const name = item.file.name;
  const uploading = item.state === "uploading" || item.state === "ready";
  const value = uploading ? item.progress : jobProgress(item.job);
  const progressLabel = uploading ? t("photos.uploadProgress", { name }) : t("photos.jobProgress", { name });
  const buttons = [];
  if (item.state === "succeeded") {
    buttons.push(
      h("button", { type: "button", class: "small primary", onclick: () => openCompare(item), "aria-label": `${t("photos.compare")}: ${name}` }, t("photos.compare")),
      h("button", { type: "button", class: "small", onclick: () => downloadOne(item), "aria-label": `${t("photos.download")}: ${name}` }, t("photos.download")),
    );
  } else if (item.job && !TERMINAL.has(item.job.status)) {
    buttons.push(h("button", { type: "button", class: "small ghost", onclick: () => cancel(item), "aria-label": `${t("photos.cancel")}: ${name}` }, t("photos.cancel")));
  }
  // results made with an engine whose licence forbids commercial use say so next to the result
  // (the job lists every engine that made the photo, the virtual model's own origin first)
  const restricted = [...new Set((item.job?.engines || []).filter((e) => e.commercial_use === false).map((e) => e.engine))];
  const licence = item.state === "succeeded" && restricted.length
    ? h("span", { class: "badge noncommercial", title: restricted.join(", ") }, t("photos.nonCommercialResult", { engines: restricted.join(", ") }))
    : null;
  item.row.dataset.state = item.state;
  item.row.replaceChildren(
    h("img", { src: item.state === "succeeded" && item.job?.result?.url ? item.job.result.url : item.before, alt: name, width: 72, height: 72 }),
    h("div", {},
      h("div", { class: "name" }, name),
      h("div", { class: `state ${item.state}`, "aria-live": "polite" }, stateText(item)),
      licence,
      warningsBlock(item.job),
      h("progress", { max: 1, value, "aria-label": progressLabel }),
    ),
    h("div", { class: "buttons" }, ...buttons),
  );
}

// Never a silent bad result: a job whose stages measured something a shop should look at (a soft face,
// a tone mismatch, a face cut by the frame, flattened transparency…) still succeeds, with `warnings`;
// the result then carries a badge and every message, so it is not published by accident.
export function warningsBlock(job) {
  const warnings = job?.warnings || [];
  if (!warnings.length) return null;
  const lines = warnings.map((w) => (w.face === null || w.face === undefined
    ? w.message : `${t("photos.warningFace", { face: w.face + 1 })}: ${w.message}`));
  return h("div", { class: "warnings" },
    h("span", { class: "badge warning", title: lines.join("\n") }, t("photos.warnings", { n: warnings.length })),
    h("ul", {}, ...warnings.map((w, i) => h("li", { "data-code": w.code }, lines[i]))),
  );
}

function updateSummary() {
  const count = (s) => items.filter((i) => i.state === s).length;
  const done = count("succeeded");
  const warned = items.filter((i) => i.state === "succeeded" && i.job?.warnings?.length).length;
  $("#download-all").disabled = done === 0;
  $("#photos-status").textContent = items.length
    ? t("photos.summary", { total: items.length, done, failed: count("failed") + count("canceled") })
      + (warned ? ` · ${t("photos.summaryWarnings", { n: warned })}` : "")
    : "";
}

function collectSteps(referenceUploadId) {
  const steps = [];
  if ($("#step-swap").checked) steps.push({ stage: "swap", params: {} });
  if ($("#step-enhance").checked) steps.push({ stage: "enhance", params: { scale: Number($("#enhance-scale").value) } });
  if ($("#step-makeup").checked) {
    const step = { stage: "makeup", params: { intensity: Number($("#makeup-intensity").value) } };
    if (referenceUploadId) step.inputs = { reference: { upload_id: referenceUploadId } };
    else step.params.look = $("#makeup-look").value;
    steps.push(step);
  }
  return steps;
}

async function pool(list, size, fn) {
  const queue = [...list];
  await Promise.all(Array.from({ length: Math.min(size, queue.length) }, async () => {
    while (queue.length) await fn(queue.shift());
  }));
}

async function start() {
  const model = $("#model-select").value;
  const pending = items.filter((i) => i.state === "ready" || (i.state === "failed" && !i.job));
  if (!pending.length) { toast(t("photos.nothingToDo"), true); return; }
  if ($("#step-swap").checked && !model) { toast(t("photos.chooseModel"), true); $("#model-select").focus(); return; }
  if (!$("#step-swap").checked && !$("#step-enhance").checked && !$("#step-makeup").checked) {
    toast(t("photos.chooseStep"), true);
    return;
  }
  const button = $("#start-jobs");
  button.disabled = true;
  try {
    let referenceId = null;
    const ref = $("#makeup-ref").files?.[0];
    if ($("#step-makeup").checked && ref) referenceId = await uploadFile(ref, () => {});
    const steps = collectSteps(referenceId);
    await pool(pending, UPLOAD_CONCURRENCY, async (item) => {
      item.state = "uploading";
      item.error = "";
      renderItem(item);
      try {
        item.uploadId = await uploadFile(item.file, (p) => { item.progress = p; renderItem(item); });
        item.state = "uploaded";
      } catch (err) {
        item.state = "failed";
        item.error = errorText(err);
      }
      renderItem(item);
      updateSummary();
    });
    const uploaded = pending.filter((i) => i.state === "uploaded");
    for (let i = 0; i < uploaded.length; i += 100) await submit(uploaded.slice(i, i + 100), model, steps);
  } catch (err) {
    toast(errorText(err), true);
  } finally {
    button.disabled = false;
  }
}

async function submit(batch, model, steps) {
  const body = { steps, images: batch.map((i) => ({ upload_id: i.uploadId })) };
  if (model && steps.some((s) => s.stage === "swap")) body.virtual_model_id = model;
  let result;
  try {
    result = await api("POST", "/v1/jobs", { body });
  } catch (err) {
    for (const item of batch) { item.state = "failed"; item.error = errorText(err); renderItem(item); }
    updateSummary();
    return;
  }
  const jobs = result?.jobs || (Array.isArray(result) ? result : [result]);
  const chosen = body.virtual_model_id ? knownModels.find((m) => m.id === body.virtual_model_id) : null;
  batch.forEach((item, n) => {
    item.job = jobs[n];
    item.model = chosen;
    item.state = item.job?.status || "queued";
    renderItem(item);
    enqueueFollow(item);
  });
  updateSummary();
}

function enqueueFollow(item) {
  streamQueue.push(item);
  pumpStreams();
}

function pumpStreams() {
  while (activeStreams < MAX_STREAMS && streamQueue.length) {
    const item = streamQueue.shift();
    activeStreams++;
    follow(item).finally(() => { activeStreams--; pumpStreams(); });
  }
}

function applyJob(item, job) {
  item.job = job;
  item.state = job.status;
  const running = (job.steps || []).find((s) => s.status === "running");
  item.stepText = running ? t(`steps.${({ swapper: "swap", enhancer: "enhance" })[running.stage] || running.stage}`) : "";
  if (job.status === "failed") item.error = job.error?.message || job.error?.code || "";
  renderItem(item);
  updateSummary();
}

// Live updates from the job's SSE stream; each event re-reads the job (the source of truth). A slow
// poll runs beside it so a proxy that buffers the stream cannot leave a job looking stuck.
async function follow(item) {
  const id = item.job.id;
  const controller = new AbortController();
  const refresh = async () => {
    const job = await api("GET", `/v1/jobs/${id}`);
    applyJob(item, job);
    if (TERMINAL.has(job.status)) controller.abort();
  };
  const poller = (async () => {
    while (!controller.signal.aborted) {
      await sleep(3000, controller.signal);
      if (!controller.signal.aborted) await refresh().catch(() => {});
    }
  })();
  try {
    await refresh();
    if (!TERMINAL.has(item.job.status)) {
      // every event (step started, step finished, end) re-reads the job, the source of truth
      await followEvents(`/v1/jobs/${id}/events`, () => { refresh().catch(() => {}); },
        { signal: controller.signal, isDone: () => TERMINAL.has(item.job.status) });
      if (!TERMINAL.has(item.job.status)) await refresh();
    }
    while (!TERMINAL.has(item.job.status)) {
      await new Promise((r) => setTimeout(r, 1500));
      await refresh();
    }
  } catch (err) {
    if (!controller.signal.aborted) { item.error = errorText(err); renderItem(item); }
  } finally {
    controller.abort();
    await poller;
  }
}

async function cancel(item) {
  try {
    applyJob(item, await api("POST", `/v1/jobs/${item.job.id}:cancel`, { body: {} }));
  } catch (err) {
    toast(errorText(err), true);
  }
}

function resultName(item) {
  const stem = item.file.name.replace(/\.[^.]+$/, "");
  const key = item.job?.result?.key || "";
  const ext = (key.match(/\.(png|jpe?g|webp)$/i) || [, item.job?.result?.content_type === "image/jpeg" ? "jpg" : "png"])[1];
  return `${slug(stem)}-facecast.${ext.toLowerCase()}`;
}

async function resultBytes(item) {
  if (!item.resultBlob) {
    const response = await fetch(item.job.result.url, { credentials: "omit" });
    if (!response.ok) {
      // the presigned URL may have expired: read the job again for a fresh one
      applyJob(item, await api("GET", `/v1/jobs/${item.job.id}`));
      const again = await fetch(item.job.result.url, { credentials: "omit" });
      if (!again.ok) throw new Error(`${t("photos.downloadFailed")} (HTTP ${again.status})`);
      item.resultBlob = await again.blob();
    } else {
      item.resultBlob = await response.blob();
    }
  }
  return item.resultBlob;
}

async function downloadOne(item) {
  try {
    saveBlob(await resultBytes(item), resultName(item));
  } catch (err) {
    toast(errorText(err), true);
  }
}

async function downloadAll() {
  const done = items.filter((i) => i.state === "succeeded");
  if (!done.length) return;
  const button = $("#download-all");
  button.disabled = true;
  $("#photos-status").textContent = t("photos.zipping", { n: done.length });
  try {
    const files = [];
    for (const item of done) files.push({ name: resultName(item), data: new Uint8Array(await (await resultBytes(item)).arrayBuffer()) });
    saveBlob(makeZip(files), `facecast-${new Date().toISOString().slice(0, 10)}.zip`);
    updateSummary();
  } catch (err) {
    toast(errorText(err), true);
  } finally {
    button.disabled = false;
  }
}

function setSplit(pct) {
  $("#compare-range").value = pct;
  $("#compare-before-clip").style.clipPath = `inset(0 ${100 - pct}% 0 0)`;
  $(".compare-handle").style.left = `${pct}%`;
  $("#compare-range").setAttribute("aria-valuetext", t("compare.valueText", { pct }));
}

let compareItem = null;
async function openCompare(item) {
  compareItem = item;
  const name = item.file.name;
  $("#compare-before").src = item.before;
  $("#compare-before").alt = t("compare.before", { name });
  $("#compare-after").alt = t("compare.after", { name });
  try {
    $("#compare-after").src = URL.createObjectURL(await resultBytes(item));
  } catch {
    $("#compare-after").src = item.job.result.url;
  }
  $("#compare-download").onclick = () => downloadOne(compareItem);
  setSplit(50);
  $("#compare-dialog").showModal();
  $("#compare-range").focus();
}
