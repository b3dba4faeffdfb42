// Virtual models: the shop's gallery with engine, licence (the demo engine is non-commercial), date; delete.
import { api, listAll } from "./api.js";
import { $, errorText, h, toast } from "./dom.js";
import { formatDate, t } from "./i18n.js";

export let models = [];

export function reset() { models = []; $("#models").replaceChildren(); }

export async function init() {}

export async function load() {
  models = await listAll("/v1/virtual-models");
  return models;
}

export function licenceOf(model) {
  const info = model.engine_info || {};
  const commercial = info.commercial_use === true && !info.demo;
  return { commercial, licence: info.licence || (model.source === "import" ? t("models.imported") : "—"), demo: !!info.demo };
}

export async function show() {
  try {
    await load();
  } catch (err) {
    toast(errorText(err), true);
    return;
  }
  $("#models-empty").hidden = models.length > 0;
  $("#models").replaceChildren(...models.map(card));
}

function card(model) {
  const { commercial, licence, demo } = licenceOf(model);
  const badge = commercial
    ? h("span", { class: "badge commercial" }, t("models.commercial"))
    : h("span", { class: "badge noncommercial" }, demo ? t("models.demoNonCommercial") : t("models.nonCommercial"));
  return h("li", { class: "model", "data-id": model.id },
    h("img", { class: "portrait", src: model.portrait?.url, alt: model.name, width: 256, height: 256, loading: "lazy" }),
    h("div", { class: "meta" },
      h("h2", {}, model.name),
      badge,
      h("dl", {},
        h("dt", {}, t("models.engine")), h("dd", {}, model.engine || (model.source === "import" ? t("models.imported") : "—")),
        h("dt", {}, t("models.licence")), h("dd", {}, licence),
        h("dt", {}, t("models.created")), h("dd", {}, h("time", { datetime: model.created_at }, formatDate(model.created_at))),
      ),
      h("div", { class: "row" },
        h("button", { type: "button", class: "small", onclick: () => { location.hash = `#/photos?model=${encodeURIComponent(model.id)}`; } },
          t("models.use")),
        h("button", { type: "button", class: "small danger", "aria-label": `${t("models.delete")}: ${model.name}`,
          onclick: () => remove(model) }, t("models.delete")),
      ),
    ));
}

async function remove(model) {
  if (!confirm(t("models.confirmDelete", { name: model.name }))) return;
  try {
    await api("DELETE", `/v1/virtual-models/${model.id}`);
    toast(t("models.deleted", { name: model.name }));
    await show();
  } catch (err) {
    toast(errorText(err), true);
  }
}
