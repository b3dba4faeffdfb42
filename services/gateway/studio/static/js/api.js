// The FaceCast public API from the browser. The API key lives in sessionStorage only (never in a URL,
// never in localStorage); Server-Sent Events are read with fetch() so the key travels in a header.

const KEY = "facecast.apiKey";

export class ApiError extends Error {
  constructor(status, problem) {
    const title = problem?.title || `HTTP ${status}`;
    const detail = typeof problem?.detail === "string" ? problem.detail : problem?.detail ? JSON.stringify(problem.detail) : "";
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.problem = problem || {};
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

function uuid() {
  return crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// A pause that an AbortSignal cuts short.
export const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});

function retryAfterMs(response, attempt) {
  const header = response?.headers.get("retry-after");
  if (header) {
    const s = Number(header);
    if (!Number.isNaN(s)) return Math.min(s, 60) * 1000;
    const at = Date.parse(header);
    if (!Number.isNaN(at)) return Math.max(0, Math.min(at - Date.now(), 60000));
  }
  const cap = Math.min(8000, 400 * 2 ** (attempt - 1));
  return cap / 2 + Math.random() * cap / 2;
}

// One call to the API: JSON in and out, Bearer key, Idempotency-Key on POST, retries on 429/5xx.
export async function api(method, path, { body, form, query, key = session.key, idempotencyKey, signal } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (method === "POST" || method === "PATCH") headers["Idempotency-Key"] = idempotencyKey || uuid();
  let payload;
  if (form) payload = form;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  for (let attempt = 1; ; attempt++) {
    let response;
    try {
      response = await fetch(url, { method, headers, body: payload, signal, credentials: "omit" });
    } catch (err) {
      if (signal?.aborted || attempt >= 4) throw err;
      await sleep(retryAfterMs(null, attempt));
      continue;
    }
    if ((response.status === 429 || response.status >= 500) && attempt < 4) {
      await sleep(retryAfterMs(response, attempt));
      continue;
    }
    if (response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    const data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
    if (!response.ok) {
      // a revoked or expired key: the app signs out wherever the call came from
      if (response.status === 401 && key && key === session.key) window.dispatchEvent(new CustomEvent("facecast:unauthorized"));
      throw new ApiError(response.status, typeof data === "object" ? data : { detail: data });
    }
    return data;
  }
}

// Lists come as {data: [...], next_cursor} (or a bare array); follow the cursor for everything.
export async function listAll(path, query = {}, max = 500) {
  const items = [];
  let cursor;
  do {
    const page = await api("GET", path, { query: { ...query, cursor } });
    const rows = Array.isArray(page) ? page : page?.data || page?.items || page?.jobs || page?.endpoints || page?.deliveries || [];
    items.push(...rows);
    cursor = Array.isArray(page) ? null : page?.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

// PUT a file to a presigned URL with upload progress (fetch cannot report upload progress).
export function putWithProgress(url, file, contentType, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("Content-Type", contentType);
    for (const [k, v] of Object.entries(headers || {})) if (k.toLowerCase() !== "content-type") xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new ApiError(xhr.status, { detail: xhr.responseText.slice(0, 300) })));
    xhr.onerror = () => reject(new Error("upload failed (network)"));
    xhr.send(file);
  });
}

// Upload one file: ask for a presigned PUT, then send the bytes to it.
export async function uploadFile(file, onProgress) {
  const contentType = file.type || "image/jpeg";
  const grant = await api("POST", "/v1/uploads", { body: { content_type: contentType, filename: file.name } });
  await putWithProgress(grant.url || grant.upload_url, file, contentType, grant.headers, onProgress);
  onProgress(1);
  return grant.id;
}

// Parse a text/event-stream body incrementally.
export function sseParser(onEvent) {
  let buffer = "";
  let event = "", data = [], id = null;
  const line = (text) => {
    if (text === "") {
      if (data.length) onEvent({ event: event || "message", data: data.join("\n"), id });
      event = ""; data = [];
      return;
    }
    if (text.startsWith(":")) return;
    const i = text.indexOf(":");
    const name = i < 0 ? text : text.slice(0, i);
    let value = i < 0 ? "" : text.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "event") event = value;
    else if (name === "data") data.push(value);
    else if (name === "id") id = value;
  };
  return {
    push(chunk) {
      buffer += chunk;
      let nl;
      while ((nl = buffer.search(/\r\n|\n|\r/)) >= 0) {
        const sep = buffer[nl] === "\r" && buffer[nl + 1] === "\n" ? 2 : 1;
        line(buffer.slice(0, nl));
        buffer = buffer.slice(nl + sep);
      }
    },
    end() { if (buffer) line(buffer); line(""); },
  };
}

// Follow a job's events until the stream ends; reconnects with Last-Event-ID if it drops early.
export async function followEvents(path, onEvent, { signal, isDone } = {}) {
  let lastId = null;
  let ended = false; // the server sends `event: end` when the job is finished: no reconnect then
  for (let attempt = 1; attempt <= 20 && !signal?.aborted; attempt++) {
    const headers = { Accept: "text/event-stream", Authorization: `Bearer ${session.key}` };
    if (lastId) headers["Last-Event-ID"] = lastId;
    try {
      const response = await fetch(new URL(path, location.origin), { headers, signal, credentials: "omit" });
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
      const parser = sseParser((e) => {
        if (e.id) lastId = e.id;
        if (e.event === "end") ended = true;
        onEvent(e);
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
      }
      parser.end();
    } catch (err) {
      if (signal?.aborted) return;
      if (err instanceof ApiError && err.status < 500 && err.status !== 429) throw err;
    }
    if (ended || isDone?.()) return;
    await sleep(Math.min(5000, 300 * attempt), signal);
  }
}
