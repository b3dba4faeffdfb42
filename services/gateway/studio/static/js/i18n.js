// Korean and English. Texts live in i18n/<lang>.json; elements name theirs with data-i18n,
// data-i18n-placeholder and data-i18n-aria-label. The choice is remembered (localStorage: not secret).

const LANGS = ["ko", "en"];
const STORE = "facecast.lang";
let messages = {};
let current = "ko";
const listeners = new Set();

export function lang() { return current; }

export function t(key, vars = {}) {
  let text = key.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), messages);
  if (typeof text !== "string") text = key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export function applyTranslations(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
}

export async function setLang(next) {
  current = LANGS.includes(next) ? next : "ko";
  const response = await fetch(`i18n/${current}.json`);
  messages = await response.json();
  document.documentElement.lang = current;
  localStorage.setItem(STORE, current);
  applyTranslations();
  for (const fn of listeners) fn(current);
}

export function onLangChange(fn) { listeners.add(fn); }

export function initialLang() {
  const saved = localStorage.getItem(STORE);
  if (LANGS.includes(saved)) return saved;
  return (navigator.language || "ko").toLowerCase().startsWith("ko") ? "ko" : "en";
}

export function formatDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso)
    : new Intl.DateTimeFormat(current === "ko" ? "ko-KR" : "en-GB", { dateStyle: "medium", timeStyle: "short" }).format(date);
}
