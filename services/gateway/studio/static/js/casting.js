// Casting: categories + strength or a brief → a live grid of candidates; "more like this"; accept and
// name a virtual model; mark candidates as fitting / not fitting a label to teach a category.
import { api, followEvents } from "./api.js";
import { $, errorText, h, toast } from "./dom.js";
import { t } from "./i18n.js";

export const CATEGORIES = ["elegant", "innocent", "alluring", "graceful", "fresh"];
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);

let current = null; // the casting being shown
let categories = []; // CategoryOut rows: the tenant's fitted directions and edited words, and the seed words
let marks = new Map(); // "casting/index" → {label, fits}
let pollToken = 0;

export function reset() {
  current = null;
  grid = { id: null, tiles: new Map() };
  marks = new Map();
  pollToken++;
  $("#candidates").replaceChildren();
  $("#casting-status").textContent = "";
  $("#teach").hidden = true;
}

export async function init() {
  $("#strength").addEventListener("input", (e) => { $("#strength-value").textContent = Number(e.target.value).toFixed(1); });
  $("#casting-form").addEventListener("submit", (e) => { e.preventDefault(); startCasting({}); });
  $("#teach-fit").addEventListener("click", fitLabel);
  $("#engine").addEventListener("change", renderChips);
  $("#accept-cancel").addEventListener("click", () => $("#accept-dialog").close("cancel"));
  await loadEngines();
}

export async function show() {
  await loadCategories();
  renderChips();
  if (current) renderCandidates();
}

async function loadEngines() {
  const select = $("#engine");
  try {
    const list = await api("GET", "/v1/engines");
    const rows = (list?.data || list || []).filter((e) => ["generator", "generate", "casting"].includes(e.stage));
    select.replaceChildren(...rows.map((e) => h("option", {
      value: e.engine, disabled: e.available === false,
    }, `${e.engine}${e.demo ? ` (${t("models.demo")})` : ""}${e.available === false ? ` – ${t("casting.unavailable")}` : ""}`)));
    // a shop's work wants an engine it may use commercially: the first available non-demo one, else the demo
    const firstAvailable = rows.find((e) => e.available !== false && !e.demo) || rows.find((e) => e.available !== false);
    if (firstAvailable) select.value = firstAvailable.engine;
  } catch (err) {
    select.replaceChildren(h("option", { value: "demo" }, "demo"));
  }
  if (!select.options.length) select.append(h("option", { value: "demo" }, "demo"));
}

async function loadCategories() {
  try {
    const list = await api("GET", "/v1/categories");
    categories = list?.data || [];
  } catch {
    categories = [];
  }
}

// A mood can steer a casting with the selected engine once it is usable there: for the diffusion engine the
// moods are prompt words (the five seed moods are ready as soon as a pipeline is imported); for the latent
// engines a mood is a direction fitted from examples. Until then its chip is shown disabled with a hint,
// and the teach panel below the grid is how to teach it.
const wordsEngine = () => $("#engine").value === "diffusion";
const usable = (label) => categories.some((c) => c.label === label && c.engine === ($("#engine").value || "demo")
  && c.ready !== false);

function renderChips() {
  const selected = $("#category-chips input:checked")?.value ?? "";
  const labels = [...new Set([...CATEGORIES, ...categories.map((c) => c.label)])];
  const name = (label) => (t(`categories.${label}`) === `categories.${label}` ? label : t(`categories.${label}`));
  const chip = (value, text, taught) => h("label", { class: `chip${taught ? "" : " untaught"}`, title: taught ? null : t("casting.notTaught") },
    h("input", { type: "radio", name: "category", value, checked: (taught && value === selected) || undefined, disabled: !taught || undefined }),
    h("span", {}, text),
    taught || value === "" ? null : h("span", { class: "note" }, ` · ${t("casting.notTaught")}`));
  $("#category-chips").replaceChildren(chip("", t("casting.anyCategory"), true), ...labels.map((l) => chip(l, name(l), usable(l))));
  if (!$("#category-chips input:checked")) $("#category-chips input").checked = true;
  const syncStrength = () => { $("#strength").disabled = wordsEngine() || !$("#category-chips input:checked")?.value; };
  for (const input of document.querySelectorAll("#category-chips input")) input.addEventListener("change", syncStrength);
  syncStrength();
  $("#teach-labels").replaceChildren(...labels.map((l) => h("option", { value: l }, name(l))));
}

function castingBody(extra) {
  const category = $("#category-chips input:checked")?.value || undefined;
  const brief = $("#brief").value.trim() || undefined;
  const body = { engine: $("#engine").value || "demo", n: Number($("#count").value) };
  if (category) { body.category = category; if (!wordsEngine()) body.strength = Number($("#strength").value); }
  if (brief) body.brief = brief;
  const { engineRetried, ...rest } = extra;
  return { ...body, ...rest };
}

async function startCasting(extra) {
  const body = castingBody(extra);
  const status = $("#casting-status");
  status.textContent = t("casting.generating", { n: body.n });
  $("#casting-progress").hidden = false;
  $("#casting-progress").value = 0;
  const token = ++pollToken;
  try {
    current = await api("POST", "/v1/castings", { body });
  } catch (err) {
    // an engine listed as available whose weights are not imported: mark it and use the next one
    const option = $("#engine").selectedOptions[0];
    const next = [...$("#engine").options].find((o) => !o.disabled && o !== option);
    if (err?.problem?.code === "engine-unavailable" && option && next && !extra.engineRetried) {
      option.disabled = true;
      option.textContent = `${option.value} – ${t("casting.unavailable")}`;
      $("#engine").value = next.value;
      toast(t("casting.engineFallback", { from: option.value, to: next.value }));
      return startCasting({ ...extra, engine: next.value, engineRetried: true });
    }
    status.textContent = errorText(err);
    $("#casting-progress").hidden = true;
    return;
  }
  current.n = body.n;
  renderCandidates();
  await follow(current.id, token);
}

// Candidates appear as the generator makes them: a casting is made in chunks (one job step each, the
// first a single face), and `GET /v1/castings/{id}` lists the candidates made so far with the number
// `expected`. Follow the casting's job events, re-reading the casting on each, and poll as a fallback
// (a stream that cannot be opened still finishes the grid).
async function follow(id, token) {
  let done = false;
  const refresh = async () => {
    if (token !== pollToken) return;
    const casting = await api("GET", `/v1/castings/${id}`);
    if (token !== pollToken) return; // another casting started meanwhile: this one is no longer shown
    current = { ...casting, n: current.n };
    renderCandidates();
    done = TERMINAL.has(current.status);
  };
  const controller = new AbortController();
  const stream = current.job_id
    ? followEvents(`/v1/jobs/${current.job_id}/events`, () => refresh().catch(() => {}), {
      signal: controller.signal, isDone: () => done || token !== pollToken,
    }).catch(() => {})
    : Promise.resolve();
  while (!done && token === pollToken) {
    try { await refresh(); } catch (err) { $("#casting-status").textContent = errorText(err); }
    if (!done) await new Promise((r) => setTimeout(r, 700));
  }
  controller.abort();
  await stream;
}

function candidateRef(index) { return `${current.id}/${index}`; }

// The grid of one casting: a tile per expected candidate, in index order. A placeholder (li.pending) is
// replaced by its candidate once that candidate's chunk is made; a filled tile is never rebuilt (its
// image would load again: every read of the casting presigns new URLs), only its mark text changes.
let grid = { id: null, tiles: new Map() }; // index → li

function pendingTile(index) {
  return h("li", { class: "candidate pending", "data-index": String(index) },
    h("div", { class: "portrait", role: "img", "aria-label": t("casting.pendingTile", { n: index + 1 }) }));
}

function markText(c) {
  const mark = marks.get(candidateRef(c.index));
  return mark ? `${mark.fits ? "✓" : "✗"} ${t(mark.fits ? "teach.marked" : "teach.markedNot", { label: mark.label })}` : "";
}

function renderCandidates() {
  if (!current) return;
  const got = [...(current.candidates || [])].sort((a, b) => a.index - b.index);
  const n = Math.max(current.expected ?? current.n ?? current.request?.n ?? 0, got.length);
  const list = $("#candidates");
  if (grid.id !== current.id || list.children.length !== grid.tiles.size) {
    grid = { id: current.id, tiles: new Map() };
    for (let i = 0; i < n; i++) grid.tiles.set(i, pendingTile(i));
    list.replaceChildren(...grid.tiles.values());
  }
  for (const c of got) {
    const tile = grid.tiles.get(c.index);
    if (tile && !tile.classList.contains("pending")) {
      const text = markText(c);
      if (tile.querySelector(".marks").textContent !== text) tile.querySelector(".marks").textContent = text;
      continue;
    }
    const card = candidateCard(c);
    if (tile) tile.replaceWith(card);
    else list.append(card);
    grid.tiles.set(c.index, card);
  }
  if (TERMINAL.has(current.status)) { // a failed or canceled casting makes no more: drop the placeholders
    for (const [index, tile] of grid.tiles) {
      if (tile.classList.contains("pending")) { tile.remove(); grid.tiles.delete(index); }
    }
  }
  const status = $("#casting-status");
  const progress = $("#casting-progress");
  progress.value = n ? got.length / n : 0;
  if (current.status === "failed") {
    status.textContent = `${t("casting.failed")}: ${current.error?.message || ""}`;
    progress.hidden = true;
  } else if (TERMINAL.has(current.status)) {
    status.textContent = t("casting.ready", { n: got.length });
    progress.hidden = true;
  } else {
    status.textContent = t("casting.progress", { done: got.length, n });
  }
  $("#teach").hidden = got.length === 0;
}

function candidateCard(c) {
  const ref = candidateRef(c.index);
  const label = t("casting.candidate", { n: c.index + 1 });
  const teachLabel = () => $("#teach-label").value.trim() || $("#category-chips input:checked")?.value || "";
  return h("li", { class: "candidate", "data-index": String(c.index) },
    h("img", { class: "portrait", src: c.image?.url, alt: label, width: 256, height: 256, loading: "lazy" }),
    licenceNote(c),
    h("div", { class: "marks", "aria-live": "polite" }, markText(c)),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "primary small", "aria-label": `${t("casting.accept")}: ${label}`,
        onclick: () => accept(c) }, t("casting.accept")),
      h("button", { type: "button", class: "small", "aria-label": `${t("casting.more")}: ${label}`,
        onclick: () => startCasting({ near: [ref] }) }, t("casting.more")),
      h("button", { type: "button", class: "small", "aria-label": `${t("teach.fits")}: ${label}`,
        onclick: () => markExample(c, teachLabel(), true) }, t("teach.fits")),
      h("button", { type: "button", class: "small", "aria-label": `${t("teach.notFits")}: ${label}`,
        onclick: () => markExample(c, teachLabel(), false) }, t("teach.notFits")),
    ));
}

// Weights with use restrictions (OpenRAIL licences) name them on every candidate: a link and the short text.
function licenceNote(c) {
  const terms = c.licence?.use_restrictions;
  if (!terms) return null;
  return h("a", { class: "licence-note", href: terms.link, target: "_blank", rel: "noopener", title: terms.summary },
    t("casting.useRestrictions", { licence: terms.licence }));
}

async function accept(candidate) {
  const dialog = $("#accept-dialog");
  $("#accept-preview").src = candidate.image?.url || "";
  $("#accept-preview").alt = t("casting.candidate", { n: candidate.index + 1 });
  const name = $("#accept-name");
  name.value = "";
  dialog.returnValue = "";
  dialog.showModal();
  name.focus();
  const result = await new Promise((resolve) => {
    $("#accept-form").onsubmit = (e) => { e.preventDefault(); if (name.value.trim()) dialog.close("ok"); };
    dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
  });
  if (result !== "ok") return;
  try {
    const model = await api("POST", "/v1/virtual-models", {
      body: { casting_id: current.id, candidate: candidate.index, name: name.value.trim() },
    });
    toast(t("casting.accepted", { name: model.name }));
    $("#casting-status").textContent = t("casting.accepted", { name: model.name });
  } catch (err) {
    toast(errorText(err), true);
  }
}

async function markExample(candidate, label, fits) {
  if (!label) {
    $("#teach-status").textContent = t("teach.needLabel");
    $("#teach-label").focus();
    return;
  }
  try {
    const out = await api("POST", `/v1/categories/${encodeURIComponent(label)}/examples`, {
      body: { casting_id: current.id, candidate: candidate.index, fits },
    });
    marks.set(candidateRef(candidate.index), { label, fits });
    const counts = out?.counts || {};
    $("#teach-status").textContent = t("teach.counts", { label, fits: counts.fits ?? "?", not: counts.does_not_fit ?? "?" });
    renderCandidates();
  } catch (err) {
    $("#teach-status").textContent = errorText(err);
  }
}

async function fitLabel() {
  const label = $("#teach-label").value.trim() || $("#category-chips input:checked")?.value || "";
  if (!label) {
    $("#teach-status").textContent = t("teach.needLabel");
    $("#teach-label").focus();
    return;
  }
  $("#teach-status").textContent = t("teach.fitting", { label });
  try {
    await api("POST", `/v1/categories/${encodeURIComponent(label)}:fit`, { body: { engine: $("#engine").value || "demo" } });
    $("#teach-status").textContent = t("teach.fitted", { label });
    await loadCategories();
    renderChips();
  } catch (err) {
    $("#teach-status").textContent = errorText(err);
  }
}
