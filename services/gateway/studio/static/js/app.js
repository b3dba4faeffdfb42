// FaceCast Studio entry: language, sign-in, hash routing between the four views.
import { api, session } from "./api.js";
import { $, errorText } from "./dom.js";
import { initialLang, onLangChange, setLang, t } from "./i18n.js";
import * as casting from "./casting.js";
import * as models from "./models.js";
import * as photos from "./photos.js";
import * as webhooks from "./webhooks.js";

const VIEWS = { casting, models, photos, webhooks };
const started = new Set();

function showSignedIn(signedIn) {
  $("#nav").hidden = !signedIn;
  $("#sign-out").hidden = !signedIn;
  $("#view-signin").hidden = signedIn;
  if (!signedIn) for (const name of Object.keys(VIEWS)) $(`#view-${name}`).hidden = true;
}

async function route() {
  if (!session.key) {
    showSignedIn(false);
    $("#api-key").focus();
    return;
  }
  showSignedIn(true);
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1];
  const view = VIEWS[name] ? name : "casting";
  if (!VIEWS[name]) history.replaceState(null, "", "#/casting");
  for (const other of Object.keys(VIEWS)) $(`#view-${other}`).hidden = other !== view;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.route === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${t(`nav.${view}`)} · FaceCast Studio`;
  try {
    if (!started.has(view)) {
      started.add(view);
      await VIEWS[view].init();
    }
    await VIEWS[view].show?.();
  } catch (err) {
    if (err?.status === 401) return signOut(t("errors.unauthorized"));
    $("#toast").textContent = errorText(err);
  }
}

function signOut(message = "") {
  session.clear();
  started.clear();
  for (const v of Object.values(VIEWS)) v.reset?.();
  $("#signin-error").textContent = message;
  route();
}

async function signIn(event) {
  event.preventDefault();
  const key = $("#api-key").value.trim();
  const error = $("#signin-error");
  error.textContent = "";
  if (!key) return;
  try {
    await api("GET", "/v1/engines", { key }); // any authenticated read proves the key
    session.set(key);
    $("#api-key").value = "";
    await route();
    $("#main").focus();
  } catch (err) {
    error.textContent = err?.status === 401 || err?.status === 403 ? t("auth.invalid") : errorText(err);
  }
}

async function main() {
  await setLang(initialLang());
  $("#lang").value = document.documentElement.lang;
  $("#lang").addEventListener("change", (e) => setLang(e.target.value));
  onLangChange(() => route());
  $("#signin-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", route);
  window.addEventListener("facecast:unauthorized", () => { if (session.key) signOut(t("errors.unauthorized")); });
  await route();
  document.body.dataset.ready = "1";
}

main();
