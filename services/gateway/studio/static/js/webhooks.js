// Webhooks: add an endpoint (its secret is shown once), list endpoints, see deliveries, redeliver, delete.
import { api, listAll } from "./api.js";
import { $, errorText, h, toast } from "./dom.js";
import { formatDate, t } from "./i18n.js";

const open = new Set(); // endpoint ids whose deliveries are expanded

export function reset() {
  open.clear();
  $("#endpoints").replaceChildren();
  hideSecret();
}

export async function init() {
  $("#webhook-form").addEventListener("submit", (e) => { e.preventDefault(); add(); });
  $("#hide-secret").addEventListener("click", hideSecret);
  $("#copy-secret").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("#webhook-secret-value").textContent);
      toast(t("webhooks.copied"));
    } catch {
      const range = document.createRange();
      range.selectNodeContents($("#webhook-secret-value"));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      toast(t("webhooks.copyManually"));
    }
  });
}

function hideSecret() {
  $("#webhook-secret").hidden = true;
  $("#webhook-secret-value").textContent = "";
}

export async function show() {
  let endpoints = [];
  try {
    endpoints = await listAll("/v1/webhook-endpoints");
  } catch (err) {
    toast(errorText(err), true);
  }
  $("#endpoints").replaceChildren(...(endpoints.length ? endpoints.map(card) : [h("li", { class: "muted" }, t("webhooks.none"))]));
  for (const id of open) await loadDeliveries(id);
}

async function add() {
  const url = $("#webhook-url").value.trim();
  const events = [...document.querySelectorAll("#webhook-form input[name=event]:checked")].map((i) => i.value);
  if (!events.length) { toast(t("webhooks.chooseEvent"), true); return; }
  try {
    const endpoint = await api("POST", "/v1/webhook-endpoints", { body: { url, event_types: events } });
    $("#webhook-secret-value").textContent = endpoint.secret || "";
    $("#webhook-secret").hidden = !endpoint.secret;
    $("#webhook-url").value = "";
    await show();
    $("#copy-secret").focus();
  } catch (err) {
    toast(errorText(err), true);
  }
}

function card(endpoint) {
  const id = endpoint.id;
  return h("li", { class: "endpoint", "data-id": id },
    h("div", { class: "row" },
      h("div", { class: "grow" },
        h("div", { class: "url" }, endpoint.url),
        h("div", { class: "muted" }, `${(endpoint.event_types || []).join(", ")} · ${formatDate(endpoint.created_at)}`),
        endpoint.disabled ? h("div", { class: "error" }, `${t("webhooks.disabled")}: ${endpoint.disabled_reason || ""}`) : null),
      h("button", { type: "button", class: "small", "aria-expanded": String(open.has(id)), "aria-controls": `deliveries-${id}`,
        onclick: async (e) => {
          if (open.has(id)) { open.delete(id); $(`#deliveries-${id}`).replaceChildren(); }
          else { open.add(id); await loadDeliveries(id); }
          e.target.setAttribute("aria-expanded", String(open.has(id)));
        } }, t("webhooks.deliveries")),
      h("button", { type: "button", class: "small danger", "aria-label": `${t("webhooks.delete")}: ${endpoint.url}`,
        onclick: () => remove(endpoint) }, t("webhooks.delete"))),
    h("div", { id: `deliveries-${id}`, "aria-live": "polite" }));
}

async function loadDeliveries(id) {
  const box = document.getElementById(`deliveries-${id}`);
  if (!box) return;
  try {
    const rows = await listAll(`/v1/webhook-endpoints/${id}/deliveries`, {}, 100);
    if (!rows.length) { box.replaceChildren(h("p", { class: "muted" }, t("webhooks.noDeliveries"))); return; }
    box.replaceChildren(h("table", {},
      h("caption", { class: "sr-only" }, t("webhooks.deliveries")),
      h("thead", {}, h("tr", {}, ...["event", "status", "attempts", "code", "when", ""].map((k) =>
        h("th", { scope: "col" }, k ? t(`webhooks.col.${k}`) : h("span", { class: "sr-only" }, t("webhooks.redeliver")))))),
      h("tbody", {}, ...rows.map((d) => h("tr", { "data-id": d.id },
        h("td", {}, d.event_type),
        h("td", {}, t(`webhooks.status.${d.status}`)),
        h("td", {}, String(d.attempts)),
        h("td", {}, d.last_status_code ? String(d.last_status_code) : d.last_error ? d.last_error.slice(0, 60) : "—"),
        h("td", {}, formatDate(d.delivered_at || d.created_at)),
        h("td", {}, h("button", { type: "button", class: "small", onclick: () => redeliver(id, d.id) }, t("webhooks.redeliver"))),
      )))));
  } catch (err) {
    box.replaceChildren(h("p", { class: "error" }, errorText(err)));
  }
}

async function redeliver(endpointId, deliveryId) {
  try {
    await api("POST", `/v1/webhook-endpoints/${endpointId}/deliveries/${deliveryId}:redeliver`, { body: {} });
    toast(t("webhooks.redelivered"));
    setTimeout(() => loadDeliveries(endpointId), 1000);
  } catch (err) {
    toast(errorText(err), true);
  }
}

async function remove(endpoint) {
  if (!confirm(t("webhooks.confirmDelete", { url: endpoint.url }))) return;
  try {
    await api("DELETE", `/v1/webhook-endpoints/${endpoint.id}`);
    open.delete(endpoint.id);
    await show();
  } catch (err) {
    toast(errorText(err), true);
  }
}
