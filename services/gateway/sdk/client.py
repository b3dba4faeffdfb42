"""FaceCast client for shop platforms, store plugins and scripts (`facecast.client`).

    from facecast.client import FaceCast
    fc = FaceCast(api_key="fc_...", base_url="https://facecast.example")
    jobs = fc.create_jobs(["a.jpg", "b.jpg"], model="vm_...", steps=["swap", "enhance"])
    done = fc.wait(jobs)                # rich progress bar on a terminal
    fc.download(done, "out/")

`AsyncFaceCast` has the same methods as coroutines. Every request is retried on 429 and 5xx (and on
connection errors) with exponential backoff that honours `Retry-After`; every POST carries an
`Idempotency-Key` (generated once per call and reused by its retries), so a retried submission never
creates a second job. `verify_webhook` checks a Standard Webhooks delivery in a shop's receiver.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import hashlib
import hmac
import json
import mimetypes
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote, unquote, urlparse

import httpx

__all__ = [
    "FaceCast", "AsyncFaceCast", "FaceCastError", "APIError", "JobFailed", "WaitTimeout",
    "WebhookVerificationError", "RetryPolicy", "verify_webhook", "sign_webhook", "parse_retry_after",
    "iter_sse", "IMAGE_SUFFIXES", "TERMINAL_STATUSES", "JobWarning", "job_warnings",
]

DEFAULT_URL = "http://127.0.0.1:8000"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "canceled", "expired"})
USER_AGENT = "facecast-python/0.1"


# --------------------------------------------------------------------------------------------- errors
class FaceCastError(Exception):
    """Base class of everything this client raises on purpose."""


class APIError(FaceCastError):
    """The API answered with an error (an RFC 9457 problem document when the server sent one)."""

    def __init__(self, status: int, problem: Mapping[str, Any] | None = None, *, request_id: str | None = None,
                 text: str = ""):
        self.status = status
        self.problem = dict(problem or {})
        self.type = self.problem.get("type", "about:blank")
        self.title = self.problem.get("title", "")
        self.detail = self.problem.get("detail", "") or text[:500]
        self.request_id = request_id
        message = f"HTTP {status}"
        if self.title:
            message += f" {self.title}"
        if self.detail:
            message += f": {self.detail}"
        if request_id:
            message += f" (request {request_id})"
        super().__init__(message)


class JobFailed(FaceCastError):
    def __init__(self, job: Mapping[str, Any]):
        self.job = dict(job)
        error = job.get("error") or {}
        super().__init__(f"job {job.get('id')} {job.get('status')}: {error.get('message') or error or ''}".rstrip(": "))


class WaitTimeout(FaceCastError):
    pass


class WebhookVerificationError(FaceCastError):
    pass


# ---------------------------------------------------------------------------------------- retry policy
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; `Retry-After` from the server wins when it is given."""
    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 120.0
    statuses: frozenset[int] = RETRY_STATUSES
    jitter: bool = True

    def delay(self, attempt: int, response: httpx.Response | None = None, *, now: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        if response is not None:
            after = parse_retry_after(response.headers.get("retry-after"), now=now)
            if after is not None:
                return min(after, self.retry_after_max_s)
        cap = min(self.backoff_max_s, self.backoff_base_s * (2 ** (attempt - 1)))
        return random.uniform(cap / 2, cap) if self.jitter else cap

    def should_retry(self, attempt: int, response: httpx.Response | None, error: Exception | None) -> bool:
        if attempt > self.max_retries:
            return False
        if error is not None:
            return isinstance(error, (httpx.TransportError,))
        return response is not None and response.status_code in self.statuses


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


# ------------------------------------------------------------------------------------------- webhooks
def _webhook_keys(secret: str | bytes | Sequence[str]) -> list[bytes]:
    secrets = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    keys = []
    for item in secrets:
        if isinstance(item, bytes):
            keys.append(item)
            continue
        raw = item.removeprefix("whsec_")
        try:
            keys.append(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError):
            raise WebhookVerificationError("the webhook secret is not whsec_<base64>") from None
    return keys


def sign_webhook(secret: str | bytes, msg_id: str, timestamp: int | str, body: bytes | str) -> str:
    """The `webhook-signature` value a Standard Webhooks sender puts on a message (`v1,<base64>`)."""
    key = _webhook_keys(secret)[0]
    payload = body.encode() if isinstance(body, str) else body
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + payload, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify_webhook(secret: str | bytes | Sequence[str], headers: Mapping[str, str], body: bytes | str, *,
                   tolerance_s: int = 300, now: float | None = None) -> dict[str, Any]:
    """Check a Standard Webhooks delivery and return its JSON payload.

    `secret` is the endpoint's `whsec_…` secret (or a list of them while a rotation overlaps);
    `headers` is any case-insensitive or plain mapping of the request headers; `body` the raw body
    exactly as received. Raises `WebhookVerificationError` when a header is missing, the timestamp is
    more than `tolerance_s` away from now (replay), or no `v1` signature matches.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id, timestamp, signatures = (lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not msg_id or not timestamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        ts = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        raise WebhookVerificationError(f"webhook-timestamp is {int(current - ts)} s away from now (tolerance {tolerance_s} s)")
    payload = body.encode() if isinstance(body, str) else bytes(body)
    expected = [sign_webhook(key, msg_id, timestamp, payload).split(",", 1)[1] for key in _webhook_keys(secret)]
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue
        if any(hmac.compare_digest(value.encode(), e.encode()) for e in expected):
            try:
                return json.loads(payload)
            except ValueError:
                raise WebhookVerificationError("the webhook body is not JSON") from None
    raise WebhookVerificationError("no webhook signature matches the secret")


# ---------------------------------------------------------------------------------------------- SSE
@dataclass
class SSEEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


def iter_sse(lines: Iterable[str]) -> Iterator[SSEEvent]:
    """Parse a text/event-stream (WHATWG HTML §9.2.6) from decoded lines without their line ends."""
    event, data, last_id, retry = "", [], None, None
    for line in lines:
        if line == "":
            if data:
                yield SSEEvent(event or "message", "\n".join(data), last_id, retry)
            event, data, retry = "", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)
    if data:
        yield SSEEvent(event or "message", "\n".join(data), last_id, retry)


# ------------------------------------------------------------------------------------- image inputs
@dataclass
class ImageInput:
    """One picture for a job: bytes (sent as multipart or uploaded first), an https URL, or an upload key."""
    name: str
    data: bytes | None = None
    url: str | None = None
    upload_id: str | None = None
    key: str | None = None
    content_type: str = "image/jpeg"
    sha256: str = ""
    path: Path | None = None  # a file read only when its job is submitted (folders of any size)

    def __post_init__(self):
        if self.data is not None and not self.sha256:
            self.sha256 = hashlib.sha256(self.data).hexdigest()

    def loaded(self) -> "ImageInput":
        """This input with its file's bytes read (itself when it has no file or was read already)."""
        if self.path is None or self.data is not None:
            return self
        return ImageInput(name=self.name, data=self.path.read_bytes(), content_type=self.content_type)

    def as_json(self) -> dict[str, str]:
        if self.upload_id:
            return {"upload_id": self.upload_id}
        if self.key:
            return {"key": self.key}
        if self.url:
            return {"url": self.url}
        raise ValueError("bytes inputs are sent as multipart or uploaded first")


def _guess_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def list_photos(folder: str | os.PathLike) -> list[Path]:
    """Image files in a folder (not recursive), sorted by name."""
    root = Path(folder)
    if not root.is_dir():
        raise FaceCastError(f"{root} is not a folder")
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))


def to_inputs(images: Any) -> list[ImageInput]:
    """Accept a path, a folder, bytes, an http(s) URL, an `ImageInput`, or a list of these."""
    if isinstance(images, (str, os.PathLike, bytes, ImageInput)):
        images = [images]
    result: list[ImageInput] = []
    for item in images:
        if isinstance(item, ImageInput):
            result.append(item)
        elif isinstance(item, bytes):
            result.append(ImageInput(name=f"image-{len(result) + 1}.jpg", data=item,
                                     content_type="image/png" if item[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"))
        elif isinstance(item, str) and item.startswith(("https://", "http://")):
            name = unquote(Path(urlparse(item).path).name) or f"image-{len(result) + 1}"
            result.append(ImageInput(name=name, url=item))
        elif isinstance(item, str) and item.startswith("upload:"):
            upload_id = item.removeprefix("upload:")
            result.append(ImageInput(name=upload_id, upload_id=upload_id))
        else:
            path = Path(item)
            if path.is_dir():
                result.extend(to_inputs(list_photos(path)))
            elif path.is_file():
                result.append(ImageInput(name=path.name, path=path, content_type=_guess_type(path.name)))
            else:
                raise FaceCastError(f"{path} is neither a file, a folder nor an http(s) URL")
    return result


def build_steps(steps: Sequence[str | Mapping[str, Any]] | str, *, scale: int | None = None,
                look: str | None = None, intensity: float | None = None,
                makeup_reference: str | None = None, params: Mapping[str, Mapping[str, Any]] | None = None
                ) -> list[dict[str, Any]]:
    """`["swap", "enhance"]` or `"swap,enhance"` → the API's step list (`{stage, params, inputs}`).

    `makeup_reference` is an upload id (from `upload`) of a made-up face to copy the makeup from."""
    if isinstance(steps, str):
        steps = [s.strip() for s in steps.split(",") if s.strip()]
    result = []
    for step in steps:
        if isinstance(step, Mapping):
            result.append({"stage": step.get("stage") or step["name"], "params": dict(step.get("params", {})),
                           **({"inputs": dict(step["inputs"])} if step.get("inputs") else {})})
            continue
        name = step.strip().lower()
        if name not in ("swap", "enhance", "makeup"):
            raise FaceCastError(f"unknown step {step!r}: choose from swap, enhance, makeup")
        spec: dict[str, Any] = {"stage": name, "params": dict((params or {}).get(name, {}))}
        if name == "enhance" and scale is not None:
            spec["params"].setdefault("scale", scale)
        if name == "makeup":
            if look is not None:
                spec["params"].setdefault("look", look)
            if intensity is not None:
                spec["params"].setdefault("intensity", intensity)
            if makeup_reference is not None:
                spec["inputs"] = {"reference": {"upload_id": makeup_reference}}
        result.append(spec)
    if not result:
        raise FaceCastError("give at least one step")
    return result


def job_key(image: ImageInput, model: str, steps: list[dict[str, Any]]) -> str:
    """A deterministic idempotency key: the same photo, model and steps map to the same job."""
    h = hashlib.sha256()
    h.update(json.dumps({"model": model, "steps": steps}, sort_keys=True).encode())
    h.update((image.sha256 or image.url or image.upload_id or image.key or image.name).encode())
    return "fc-" + h.hexdigest()[:40]


def _default_key(item: ImageInput, model: str, steps: list[dict[str, Any]], upload: bool) -> str:
    """Sent as multipart (or by URL), the same photo, model and steps always give the same key, so a
    re-run after a crash finds the job it already made. Through a presigned upload each call makes a
    new upload (another body), so the key is per call; its HTTP retries still share it."""
    if upload and item.data is not None:
        return str(uuid.uuid4())
    return job_key(item, model, steps)


def result_urls(job: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, presigned URL) of a job's result images, whatever the job's item layout."""
    found: list[tuple[str, str]] = []

    def take(entry: Any, default_name: str) -> None:
        if isinstance(entry, str) and entry.startswith("http"):
            found.append((default_name, entry))
        elif isinstance(entry, Mapping):
            url = entry.get("url") or entry.get("result_url") or entry.get("download_url")
            if isinstance(url, str):
                if isinstance(entry.get("key"), str) and Path(entry["key"]).suffix:
                    default_name = str(Path(default_name).with_suffix(Path(entry["key"]).suffix))
                found.append((str(entry.get("name") or entry.get("filename") or default_name), url))

    result = job.get("result")
    if result is not None:
        take(result, f"{job.get('id')}.png")
    for key in ("results", "outputs"):
        for i, entry in enumerate(job.get(key) or []):
            take(entry, f"{job.get('id')}-{i + 1}.png")
    for i, item in enumerate(job.get("items") or []):
        if isinstance(item, Mapping):
            r = item.get("result") or item.get("output")
            if r is not None:
                take(r, str(item.get("name") or f"{job.get('id')}-{i + 1}.png"))
    return found


@dataclass(frozen=True)
class JobWarning:
    """A warning a stage raised on a job that still succeeded (`tone-mismatch`, `soft-face`,
    `face-cut-by-frame`, `alpha-flattened`, …): look at the result before publishing it."""
    code: str
    message: str
    face: int | None = None
    stage: str | None = None
    step: int | None = None

    def __str__(self) -> str:
        where = f"step {self.step} ({self.stage})" if self.step is not None else (self.stage or "job")
        face = f", face {self.face}" if self.face is not None else ""
        return f"{where}{face}: {self.code}: {self.message}"


def job_warnings(job: Mapping[str, Any]) -> list[JobWarning]:
    """The warnings of a job dictionary (`job["warnings"]`; from the step reports for an older server)."""
    entries = job.get("warnings")
    if entries is None:
        entries = [{**w, "stage": s.get("stage"), "step": s.get("number")}
                   for s in job.get("steps") or [] if isinstance(s, Mapping)
                   for w in ((s.get("report") or {}).get("warnings") or []) if isinstance(w, Mapping)]
    return [JobWarning(code=str(w.get("code", "warning")), message=str(w.get("message", "")), face=w.get("face"),
                       stage=w.get("stage"), step=w.get("step")) for w in entries if isinstance(w, Mapping)]


def job_progress(job: Mapping[str, Any]) -> float:
    """0..1 for a job dictionary (uses `progress` when the server gives it, else the step outcomes)."""
    if job.get("status") in TERMINAL_STATUSES:
        return 1.0
    progress = job.get("progress")
    if isinstance(progress, (int, float)):
        return float(progress) / (100.0 if progress > 1 else 1.0)
    if isinstance(progress, Mapping) and progress.get("total"):
        return float(progress.get("done", 0)) / float(progress["total"])
    steps = job.get("steps") or []
    done = sum(1 for s in steps if isinstance(s, Mapping) and s.get("status") == "succeeded")
    return done / len(steps) if steps else 0.0


# ----------------------------------------------------------------------------------- shared request
@dataclass
class _Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    data: dict[str, Any] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    raw: bool = False

    def build(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        headers = dict(self.headers)
        if self.method in ("POST", "PATCH") and self.idempotency_key is None:
            self.idempotency_key = str(uuid.uuid4())
        if self.idempotency_key:
            headers["Idempotency-Key"] = self.idempotency_key
        if self.files:
            # a deterministic boundary so the same photo gives the same body on every retry and re-run
            boundary = hashlib.sha256((self.idempotency_key or "").encode()).hexdigest()[:32]
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        return client.build_request(self.method, self.path, params=self.params, json=self.json, data=self.data,
                                    files=self.files, headers=headers)


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    problem = None
    if response.headers.get("content-type", "").split(";")[0].strip() in ("application/problem+json", "application/json"):
        try:
            body = response.json()
            problem = body if isinstance(body, dict) else None
        except ValueError:
            problem = None
    if problem is not None and "detail" in problem and not isinstance(problem["detail"], str):
        problem = {**problem, "detail": json.dumps(problem["detail"])[:500]}
    raise APIError(response.status_code, problem, request_id=response.headers.get("x-request-id"),
                   text=response.text if problem is None else "")


def _decode(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        return response.json()
    return response.content


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def _job_body(model: str | None, steps: list[dict[str, Any]], images: list[ImageInput]) -> dict[str, Any]:
    body: dict[str, Any] = {"steps": steps}
    if images:
        body["images"] = [i.as_json() for i in images]
    if model:
        body["virtual_model_id"] = model
    return body


def _multipart(model: str | None, steps: list[dict[str, Any]], item: ImageInput) -> dict[str, Any]:
    return {"data": {"options": json.dumps(_job_body(model, steps, []))},
            "files": [("image", (item.name, item.data, item.content_type))]}


def _casting_body(n, category, strength, brief, near, engine, seed) -> dict[str, Any]:
    body: dict[str, Any] = {"n": n}
    for k, v in (("engine", engine), ("brief", brief), ("strength", strength), ("category", category), ("seed", seed)):
        if v is not None:
            body[k] = v
    if near:
        body["near"] = [near] if isinstance(near, str) else list(near)
    return body


def _jobs_of(payload: Any) -> list[dict[str, Any]]:
    """A created-jobs response as a list: one job, `{"jobs": [...]}` or `{"data": [...]}`."""
    if isinstance(payload, Mapping):
        for key in ("jobs", "data"):
            if isinstance(payload.get(key), list):
                return list(payload[key])
        return [dict(payload)]
    return list(payload or [])


def _page(payload: Any) -> tuple[list[dict[str, Any]], str | None]:
    if isinstance(payload, list):
        return payload, None
    items = payload.get("data") or payload.get("items") or payload.get("jobs") or []
    return items, payload.get("next_cursor") or payload.get("cursor")


def _job_id(job: str | Mapping[str, Any]) -> str:
    return job if isinstance(job, str) else str(job["id"])


class _Progress:
    """A rich progress bar over jobs (or nothing, when disabled or not on a terminal)."""

    def __init__(self, enabled: bool | None, total: int, description: str = "jobs"):
        self.progress = None
        if enabled is False:
            return
        try:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:  # rich is optional for library users
            return
        from rich.console import Console
        console = Console(stderr=True)
        if enabled is None and not console.is_terminal:
            return
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console,
                                 transient=False)
        self.task = self.progress.add_task(description, total=total, status="")

    def __enter__(self):
        if self.progress:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.__exit__(*exc)

    def update(self, completed: float, status: str) -> None:
        if self.progress:
            self.progress.update(self.task, completed=completed, status=status)


def _summarise(jobs: Mapping[str, Mapping[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for job in jobs.values():
        counts[str(job.get("status"))] = counts.get(str(job.get("status")), 0) + 1
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items()))


# ----------------------------------------------------------------------------------------- sync API
class FaceCast:
    """Synchronous client. `api_key` and `base_url` default to `FACECAST_API_KEY` and `FACECAST_URL`."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *, timeout: float = 60.0,
                 retry: RetryPolicy | None = None, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.api_key = api_key or os.environ.get("FACECAST_API_KEY")
        self.base_url = (base_url or os.environ.get("FACECAST_URL") or DEFAULT_URL).rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.Client(base_url=self.base_url, headers=_headers(self.api_key), timeout=timeout,
                                  transport=transport, follow_redirects=False)
        # presigned URLs carry their own credentials: never send the API key with them
        self._bare = httpx.Client(timeout=timeout, transport=transport, headers={"User-Agent": USER_AGENT})

    def close(self) -> None:
        self._http.close()
        self._bare.close()

    def __enter__(self) -> "FaceCast":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transport
    def _send(self, call: _Call | None, *, request_factory: Callable[[], httpx.Request] | None = None,
              client: httpx.Client | None = None, stream: bool = False) -> httpx.Response:
        client = client or self._http
        attempt = 0
        while True:
            attempt += 1
            request = request_factory() if request_factory else call.build(client)
            response, error = None, None
            try:
                response = client.send(request, stream=stream)
            except httpx.TransportError as exc:
                error = exc
            if not self.retry.should_retry(attempt, response, error):
                if error is not None:
                    raise error
                return response
            delay = self.retry.delay(attempt, response)
            if response is not None:
                response.close()
            self._sleep(delay)

    def request(self, method: str, path: str, **kwargs) -> Any:
        call = _Call(method.upper(), path, **kwargs)
        response = self._send(call)
        _raise_for(response)
        return response.content if call.raw else _decode(response)

    # -- catalogue
    def engines(self) -> Any:
        return self.request("GET", "/v1/engines")

    # -- castings and virtual models
    def create_casting(self, *, n: int = 4, category: str | None = None, strength: float | None = None,
                       brief: str | None = None, near: Sequence[str] | str | None = None,
                       engine: str | None = None, seed: int | None = None) -> dict[str, Any]:
        """Generate `n` candidates; `near` takes candidate refs `<casting id>/<index>` or model ids."""
        return self.request("POST", "/v1/castings", json=_casting_body(n, category, strength, brief, near, engine, seed))

    def get_casting(self, casting_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/castings/{casting_id}")

    def wait_casting(self, casting_id: str, *, timeout: float = 300.0, poll_s: float = 0.5,
                     on_candidate: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
        """Poll until the casting finished. Candidates are made in chunks and listed as they are made
        (`expected` says how many there will be): `on_candidate` is called once for each, as it appears."""
        deadline = time.monotonic() + timeout
        seen: set[int] = set()
        while True:
            casting = self.get_casting(casting_id)
            for candidate in casting.get("candidates") or []:
                if on_candidate is not None and candidate.get("index") not in seen:
                    seen.add(candidate.get("index"))
                    on_candidate(candidate)
            if casting.get("status") in TERMINAL_STATUSES | {"ready"}:
                if casting.get("status") in ("failed", "cancelled", "canceled", "expired"):
                    raise JobFailed(casting)
                return casting
            if time.monotonic() > deadline:
                raise WaitTimeout(f"casting {casting_id} still {casting.get('status')} after {timeout:.0f} s")
            self._sleep(poll_s)

    def accept_candidate(self, casting_id: str, candidate: int | str, name: str) -> dict[str, Any]:
        return self.request("POST", "/v1/virtual-models",
                            json={"casting_id": casting_id, "candidate": candidate, "name": name})

    def virtual_models(self) -> list[dict[str, Any]]:
        return _page(self.request("GET", "/v1/virtual-models"))[0]

    def get_virtual_model(self, model_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/virtual-models/{model_id}")

    def rename_virtual_model(self, model_id: str, name: str) -> dict[str, Any]:
        return self.request("PATCH", f"/v1/virtual-models/{model_id}", json={"name": name})

    def delete_virtual_model(self, model_id: str) -> None:
        self.request("DELETE", f"/v1/virtual-models/{model_id}")

    def add_category_example(self, label: str, casting_id: str, candidate: int | str, fits: bool) -> Any:
        return self.request("POST", f"/v1/categories/{quote(label, safe='')}/examples",
                            json={"casting_id": casting_id, "candidate": candidate, "fits": fits})

    def fit_category(self, label: str, *, engine: str | None = None, default_strength: float | None = None) -> Any:
        body = {k: v for k, v in (("engine", engine), ("default_strength", default_strength)) if v is not None}
        return self.request("POST", f"/v1/categories/{quote(label, safe='')}:fit", json=body)

    # -- uploads
    def upload(self, image: ImageInput | str | os.PathLike | bytes) -> str:
        """Upload one image through a presigned PUT; returns the upload key to use in `create_jobs`."""
        item = to_inputs(image)[0].loaded()
        if item.data is None:
            raise FaceCastError("only files and bytes can be uploaded")
        grant = self.request("POST", "/v1/uploads", json={"content_type": item.content_type, "filename": item.name})
        headers = {"Content-Type": item.content_type, **(grant.get("headers") or {})}
        response = self._send(None, client=self._bare, request_factory=lambda: self._bare.build_request(
            grant.get("method", "PUT"), grant["url"], content=item.data, headers=headers))
        _raise_for(response)
        return grant["id"]

    # -- jobs
    def create_jobs(self, images: Any, *, model: str, steps: Sequence[str | Mapping[str, Any]] | str = ("swap",),
                    idempotency_key: str | None = None, upload: bool = False, **step_options) -> list[dict[str, Any]]:
        """One job per image. Files go as multipart (or through presigned uploads with `upload=True`);
        URLs and upload keys go as JSON. Each job gets a deterministic idempotency key unless one is given."""
        step_list = build_steps(steps, **step_options)
        jobs = []
        for item in to_inputs(images):
            item = item.loaded()
            key = idempotency_key or _default_key(item, model, step_list, upload)
            if item.data is not None and upload:
                item = ImageInput(name=item.name, upload_id=self.upload(item), sha256=item.sha256)
            jobs.extend(self._create_one(item, model, step_list, key))
        return jobs

    def _create_one(self, item: ImageInput, model: str, steps: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        if item.data is not None:
            payload = self.request("POST", "/v1/jobs", idempotency_key=key, **_multipart(model, steps, item))
        else:
            payload = self.request("POST", "/v1/jobs", json=_job_body(model, steps, [item]), idempotency_key=key)
        return _jobs_of(payload)

    def get_job(self, job: str | Mapping[str, Any]) -> dict[str, Any]:
        return self.request("GET", f"/v1/jobs/{_job_id(job)}")

    def warnings(self, job: str | Mapping[str, Any]) -> list[JobWarning]:
        """The job's warnings; a job dictionary is read as it is, a job id is fetched first."""
        return job_warnings(job if isinstance(job, Mapping) else self.get_job(job))

    def list_jobs(self, *, status: str | None = None, created_after: str | None = None,
                  limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every job, following the cursor across pages."""
        cursor = None
        while True:
            params = {k: v for k, v in (("status", status), ("created_after", created_after), ("cursor", cursor),
                                        ("limit", limit)) if v is not None}
            items, cursor = _page(self.request("GET", "/v1/jobs", params=params))
            yield from items
            if not cursor or not items:
                return

    def cancel_job(self, job: str | Mapping[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/v1/jobs/{_job_id(job)}:cancel", json={})

    def events(self, job: str | Mapping[str, Any]) -> Iterator[SSEEvent]:
        """The job's Server-Sent Events until the server closes the stream."""
        with self._http.stream("GET", f"/v1/jobs/{_job_id(job)}/events",
                               headers={"Accept": "text/event-stream"}, timeout=None) as response:
            if not response.is_success:
                response.read()
                _raise_for(response)
            yield from iter_sse(response.iter_lines())

    def wait(self, jobs: Iterable[str | Mapping[str, Any]], *, timeout: float = 900.0, poll_s: float = 0.5,
             progress: bool | None = None, raise_on_failure: bool = False,
             on_done: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        """Poll until every job is finished; returns the final job dictionaries in the given order."""
        ids = [_job_id(j) for j in jobs]
        state: dict[str, dict[str, Any]] = {i: {"id": i} for i in ids}
        pending = list(dict.fromkeys(ids))
        deadline = time.monotonic() + timeout
        delay = min(poll_s, 0.25)
        with _Progress(progress, len(state)) as bar:
            while pending:
                still = []
                for job_id in pending:
                    job = self.get_job(job_id)
                    state[job_id] = job
                    if job.get("status") in TERMINAL_STATUSES:
                        if on_done:
                            on_done(job)
                    else:
                        still.append(job_id)
                pending = still
                bar.update(sum(job_progress(j) for j in state.values()), _summarise(state))
                if not pending:
                    break
                if time.monotonic() > deadline:
                    raise WaitTimeout(f"{len(pending)} job(s) still running after {timeout:.0f} s")
                # one GET per pending job per round: keep rounds under ~20 requests/s for big batches
                self._sleep(max(delay, len(pending) / 20))
                delay = min(delay * 1.5, max(poll_s, 2.0))
        result = [state[i] for i in ids]
        if raise_on_failure:
            for job in result:
                if job.get("status") != "succeeded":
                    raise JobFailed(job)
        return result

    def fetch(self, url: str) -> bytes:
        """GET a presigned URL (no API key is sent with it)."""
        response = self._send(None, client=self._bare, request_factory=lambda: self._bare.build_request("GET", url))
        _raise_for(response)
        return response.content

    def download(self, jobs: Iterable[Mapping[str, Any]] | Mapping[str, Any], out_dir: str | os.PathLike, *,
                 names: Mapping[str, str] | None = None) -> list[Path]:
        """Save every result image of finished jobs under `out_dir`; `names` maps job id → file stem."""
        if isinstance(jobs, Mapping):
            jobs = [jobs]
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        saved = []
        for job in jobs:
            for target, url in _targets(job, out, names):
                _atomic_write(target, self.fetch(url))
                saved.append(target)
        return saved

    # -- webhooks
    def create_webhook_endpoint(self, url: str, events: Sequence[str] | None = None,
                                description: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"url": url}
        if events is not None:
            body["event_types"] = list(events)
        if description:
            body["description"] = description
        return self.request("POST", "/v1/webhook-endpoints", json=body)

    def webhook_endpoints(self) -> list[dict[str, Any]]:
        return _page(self.request("GET", "/v1/webhook-endpoints"))[0]

    def delete_webhook_endpoint(self, endpoint_id: str) -> None:
        self.request("DELETE", f"/v1/webhook-endpoints/{endpoint_id}")

    def webhook_deliveries(self, endpoint_id: str) -> list[dict[str, Any]]:
        return _page(self.request("GET", f"/v1/webhook-endpoints/{endpoint_id}/deliveries"))[0]

    def redeliver(self, endpoint_id: str, delivery_id: str) -> Any:
        return self.request("POST", f"/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}:redeliver", json={})


def _targets(job: Mapping[str, Any], out: Path, names: Mapping[str, str] | None) -> list[tuple[Path, str]]:
    urls = result_urls(job)
    stem = (names or {}).get(str(job.get("id")))
    targets = []
    for i, (name, url) in enumerate(urls):
        suffix = Path(urlparse(name).path).suffix or Path(urlparse(url).path).suffix or ".png"
        base = stem or Path(name).stem or str(job.get("id"))
        if len(urls) > 1:
            base = f"{base}-{i + 1}"
        targets.append((out / f"{base}{suffix}", url))
    return targets


def _atomic_write(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, target)


# ---------------------------------------------------------------------------------------- async API
class AsyncFaceCast:
    """The asynchronous client: the same methods as `FaceCast`, as coroutines."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *, timeout: float = 60.0,
                 retry: RetryPolicy | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Any] = asyncio.sleep, max_concurrency: int = 8):
        self.api_key = api_key or os.environ.get("FACECAST_API_KEY")
        self.base_url = (base_url or os.environ.get("FACECAST_URL") or DEFAULT_URL).rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._limit = asyncio.Semaphore(max_concurrency)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=_headers(self.api_key), timeout=timeout,
                                       transport=transport, follow_redirects=False)
        self._bare = httpx.AsyncClient(timeout=timeout, transport=transport, headers={"User-Agent": USER_AGENT})

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._bare.aclose()

    async def __aenter__(self) -> "AsyncFaceCast":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def _send(self, call: _Call | None, *, request_factory: Callable[[], httpx.Request] | None = None,
                    client: httpx.AsyncClient | None = None) -> httpx.Response:
        client = client or self._http
        attempt = 0
        while True:
            attempt += 1
            request = request_factory() if request_factory else call.build(client)
            response, error = None, None
            try:
                async with self._limit:
                    response = await client.send(request)
            except httpx.TransportError as exc:
                error = exc
            if not self.retry.should_retry(attempt, response, error):
                if error is not None:
                    raise error
                return response
            delay = self.retry.delay(attempt, response)
            if response is not None:
                await response.aclose()
            await self._sleep(delay)

    async def request(self, method: str, path: str, **kwargs) -> Any:
        call = _Call(method.upper(), path, **kwargs)
        response = await self._send(call)
        _raise_for(response)
        return response.content if call.raw else _decode(response)

    async def engines(self) -> Any:
        return await self.request("GET", "/v1/engines")

    async def create_casting(self, *, n: int = 4, category: str | None = None, strength: float | None = None,
                             brief: str | None = None, near: Sequence[str] | str | None = None,
                             engine: str | None = None, seed: int | None = None) -> dict[str, Any]:
        return await self.request("POST", "/v1/castings",
                                  json=_casting_body(n, category, strength, brief, near, engine, seed))

    async def get_casting(self, casting_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/v1/castings/{casting_id}")

    async def accept_candidate(self, casting_id: str, candidate: int | str, name: str) -> dict[str, Any]:
        return await self.request("POST", "/v1/virtual-models",
                                  json={"casting_id": casting_id, "candidate": candidate, "name": name})

    async def virtual_models(self) -> list[dict[str, Any]]:
        return _page(await self.request("GET", "/v1/virtual-models"))[0]

    async def delete_virtual_model(self, model_id: str) -> None:
        await self.request("DELETE", f"/v1/virtual-models/{model_id}")

    async def upload(self, image: ImageInput | str | os.PathLike | bytes) -> str:
        item = to_inputs(image)[0].loaded()
        if item.data is None:
            raise FaceCastError("only files and bytes can be uploaded")
        grant = await self.request("POST", "/v1/uploads", json={"content_type": item.content_type,
                                                                  "filename": item.name})
        headers = {"Content-Type": item.content_type, **(grant.get("headers") or {})}
        response = await self._send(None, client=self._bare, request_factory=lambda: self._bare.build_request(
            grant.get("method", "PUT"), grant["url"], content=item.data, headers=headers))
        _raise_for(response)
        return grant["id"]

    async def create_jobs(self, images: Any, *, model: str, steps: Sequence[str | Mapping[str, Any]] | str = ("swap",),
                          idempotency_key: str | None = None, upload: bool = False,
                          **step_options) -> list[dict[str, Any]]:
        step_list = build_steps(steps, **step_options)

        gate = asyncio.Semaphore(8)  # files in memory at once

        async def one(item: ImageInput) -> list[dict[str, Any]]:
            async with gate:
                return await submit(item)

        async def submit(item: ImageInput) -> list[dict[str, Any]]:
            item = await asyncio.to_thread(item.loaded)
            key = idempotency_key or _default_key(item, model, step_list, upload)
            if item.data is not None and upload:
                item = ImageInput(name=item.name, upload_id=await self.upload(item), sha256=item.sha256)
            if item.data is not None:
                payload = await self.request("POST", "/v1/jobs", idempotency_key=key,
                                             **_multipart(model, step_list, item))
            else:
                payload = await self.request("POST", "/v1/jobs", json=_job_body(model, step_list, [item]),
                                             idempotency_key=key)
            return _jobs_of(payload)

        results = await asyncio.gather(*(one(i) for i in to_inputs(images)))
        return [job for jobs in results for job in jobs]

    async def get_job(self, job: str | Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("GET", f"/v1/jobs/{_job_id(job)}")

    async def warnings(self, job: str | Mapping[str, Any]) -> list[JobWarning]:
        """The job's warnings; a job dictionary is read as it is, a job id is fetched first."""
        return job_warnings(job if isinstance(job, Mapping) else await self.get_job(job))

    async def list_jobs(self, *, status: str | None = None, created_after: str | None = None,
                        limit: int | None = None) -> AsyncIterator[dict[str, Any]]:
        cursor = None
        while True:
            params = {k: v for k, v in (("status", status), ("created_after", created_after), ("cursor", cursor),
                                        ("limit", limit)) if v is not None}
            items, cursor = _page(await self.request("GET", "/v1/jobs", params=params))
            for item in items:
                yield item
            if not cursor or not items:
                return

    async def cancel_job(self, job: str | Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("POST", f"/v1/jobs/{_job_id(job)}:cancel", json={})

    async def events(self, job: str | Mapping[str, Any]) -> AsyncIterator[SSEEvent]:
        async with self._http.stream("GET", f"/v1/jobs/{_job_id(job)}/events",
                                     headers={"Accept": "text/event-stream"}, timeout=None) as response:
            if not response.is_success:
                await response.aread()
                _raise_for(response)
            lines = [line async for line in response.aiter_lines()]
        for event in iter_sse(lines):
            yield event

    async def wait(self, jobs: Iterable[str | Mapping[str, Any]], *, timeout: float = 900.0, poll_s: float = 0.5,
                   progress: bool | None = None, raise_on_failure: bool = False) -> list[dict[str, Any]]:
        ids = [_job_id(j) for j in jobs]
        state: dict[str, dict[str, Any]] = {i: {"id": i} for i in ids}
        deadline = time.monotonic() + timeout
        with _Progress(progress, len(state)) as bar:

            async def follow(job_id: str) -> None:
                delay = min(poll_s, 0.25)
                while True:
                    job = await self.get_job(job_id)
                    state[job_id] = job
                    bar.update(sum(job_progress(j) for j in state.values()), _summarise(state))
                    if job.get("status") in TERMINAL_STATUSES:
                        return
                    if time.monotonic() > deadline:
                        raise WaitTimeout(f"job {job_id} still {job.get('status')} after {timeout:.0f} s")
                    await self._sleep(delay)
                    delay = min(delay * 1.5, max(poll_s, 2.0))

            await asyncio.gather(*(follow(i) for i in dict.fromkeys(ids)))
        result = [state[i] for i in ids]
        if raise_on_failure:
            for job in result:
                if job.get("status") != "succeeded":
                    raise JobFailed(job)
        return result

    async def fetch(self, url: str) -> bytes:
        response = await self._send(None, client=self._bare,
                                    request_factory=lambda: self._bare.build_request("GET", url))
        _raise_for(response)
        return response.content

    async def download(self, jobs: Iterable[Mapping[str, Any]] | Mapping[str, Any], out_dir: str | os.PathLike, *,
                       names: Mapping[str, str] | None = None) -> list[Path]:
        if isinstance(jobs, Mapping):
            jobs = [jobs]
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        targets = [t for job in jobs for t in _targets(job, out, names)]
        datas = await asyncio.gather(*(self.fetch(url) for _, url in targets))
        for (target, _), data in zip(targets, datas):
            _atomic_write(target, data)
        return [t for t, _ in targets]

    async def create_webhook_endpoint(self, url: str, events: Sequence[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"url": url}
        if events is not None:
            body["event_types"] = list(events)
        return await self.request("POST", "/v1/webhook-endpoints", json=body)

    async def webhook_deliveries(self, endpoint_id: str) -> list[dict[str, Any]]:
        return _page(await self.request("GET", f"/v1/webhook-endpoints/{endpoint_id}/deliveries"))[0]
