"""`/v1/jobs`: one job per photo (swap, enhance, makeup steps), its state, events, results and warnings.

Job statuses are the API's (`JobOut.status`): queued, running, succeeded, failed, canceled; the last three are
final. A job that succeeded may carry `warnings` (a soft face, a tone mismatch, flattened transparency…):
look at those results before publishing them.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import (Any, AsyncIterator, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple,
                    Union)
from urllib.parse import urlparse

from .._errors import JobFailed, WaitTimeout
from .._progress import Progress, summarise
from ..inputs import ImageInput, build_steps, default_key, to_inputs
from ..sse import SSEEvent, aiter_sse, iter_sse
from ._base import AsyncResource, SyncResource, route, without_none

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "canceled")
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})

# the job fields the SDK reads (job_warnings, job_progress, result_urls, JobFailed, the folder run)
JOB_READS = ("id", "status", "steps.stage", "steps.status", "result.url", "result.key", "error.message",
             "warnings.code", "warnings.message", "warnings.face", "warnings.stage", "warnings.step")
JOB_BODY = ("steps.stage", "steps.params", "steps.inputs.*.upload_id", "images.upload_id", "images.key",
            "images.url", "virtual_model_id")
CREATE = route("POST", "/v1/jobs", body=JOB_BODY, form=("options", "image"), reads=JOB_READS + ("jobs",))
LIST = route("GET", "/v1/jobs", query=("status", "created_after", "batch_id", "cursor", "limit"),
             reads=tuple(f"data.{r}" for r in JOB_READS) + ("next_cursor",))
GET = route("GET", "/v1/jobs/{job_id}", reads=JOB_READS)
CANCEL = route("POST", "/v1/jobs/{job_id}:cancel", reads=JOB_READS)
DELETE = route("DELETE", "/v1/jobs/{job_id}")
EVENTS = route("GET", "/v1/jobs/{job_id}/events")

JobRef = Union[str, Mapping[str, Any]]


@dataclass(frozen=True)
class JobWarning:
    """A warning a stage raised on a job that still succeeded (`tone-mismatch`, `soft-face`,
    `face-cut-by-frame`, `alpha-flattened`, …): look at the result before publishing it. `face` is the face's
    index in the stage's report, `stage` and `step` (1-based) where it was raised."""
    code: str
    message: str
    face: Optional[int] = None
    stage: Optional[str] = None
    step: Optional[int] = None

    def __str__(self) -> str:
        where = f"step {self.step} ({self.stage})" if self.step is not None else (self.stage or "job")
        face = f", face {self.face}" if self.face is not None else ""
        return f"{where}{face}: {self.code}: {self.message}"


def job_warnings(job: Mapping[str, Any]) -> List[JobWarning]:
    """The warnings of a job dictionary (`job["warnings"]`)."""
    return [JobWarning(code=str(w.get("code", "warning")), message=str(w.get("message", "")), face=w.get("face"),
                       stage=w.get("stage"), step=w.get("step"))
            for w in job.get("warnings") or [] if isinstance(w, Mapping)]


def job_progress(job: Mapping[str, Any]) -> float:
    """0..1 for a job dictionary: 1 when final, else the fraction of its steps that succeeded."""
    if job.get("status") in TERMINAL_STATUSES:
        return 1.0
    steps = job.get("steps") or []
    done = sum(1 for s in steps if isinstance(s, Mapping) and s.get("status") == "succeeded")
    return done / len(steps) if steps else 0.0


def result_urls(job: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """`[(file name, presigned URL)]` of a job's result image (empty while it has none): the name is
    `<job id>` with the suffix of the result's object key (`.png` when it has none)."""
    result = job.get("result")
    if not isinstance(result, Mapping) or not isinstance(result.get("url"), str):
        return []
    name = f"{job.get('id')}.png"
    key = result.get("key")
    if isinstance(key, str) and Path(key).suffix:
        name = str(Path(name).with_suffix(Path(key).suffix))
    return [(name, result["url"])]


def job_id(job: JobRef) -> str:
    return job if isinstance(job, str) else str(job["id"])


def job_body(model: Optional[str], steps: List[Dict[str, Any]], images: List[ImageInput]) -> Dict[str, Any]:
    """The API's `JobCreate`: steps, images (as `ImageSource`s) and the virtual model of the swap."""
    body: Dict[str, Any] = {"steps": steps}
    if images:
        body["images"] = [i.as_json() for i in images]
    if model:
        body["virtual_model_id"] = model
    return body


def multipart(model: Optional[str], steps: List[Dict[str, Any]], item: ImageInput) -> Dict[str, Any]:
    """A multipart job: `options` (JobCreate as JSON) and one `image` file part."""
    return {"data": {"options": json.dumps(job_body(model, steps, []))},
            "files": [("image", (item.name, item.data, item.content_type))]}


def jobs_of(payload: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """A created-jobs response as a list: a batch (`{"jobs": [...]}`) or one job."""
    if isinstance(payload.get("jobs"), list):
        return list(payload["jobs"])
    return [dict(payload)]


def targets(job: Mapping[str, Any], out: Path, names: Optional[Mapping[str, str]]) -> List[Tuple[Path, str]]:
    """Where `download` saves a job's results: `out/<stem><suffix>`, stem from `names` or the result's name."""
    urls = result_urls(job)
    stem = (names or {}).get(str(job.get("id")))
    found = []
    for i, (name, url) in enumerate(urls):
        suffix = Path(urlparse(name).path).suffix or Path(urlparse(url).path).suffix or ".png"
        base = stem or Path(name).stem or str(job.get("id"))
        if len(urls) > 1:
            base = f"{base}-{i + 1}"
        found.append((out / f"{base}{suffix}", url))
    return found


def atomic_write(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _finished(result: List[Dict[str, Any]], raise_on_failure: bool) -> List[Dict[str, Any]]:
    if raise_on_failure:
        for job in result:
            if job.get("status") != "succeeded":
                raise JobFailed(job)
    return result


Steps = Union[Sequence[Union[str, Mapping[str, Any]]], str]
SSE_HEADERS = {"Accept": "text/event-stream"}


class Jobs(SyncResource):
    def create_jobs(self, images: Any, *, model: str, steps: Steps = ("swap",), idempotency_key: Optional[str] = None,
                    upload: bool = False, **step_options: Any) -> List[Dict[str, Any]]:
        """One job per image (paths, folders, bytes, https URLs, `"upload:<id>"`; see `to_inputs`); returns the
        created jobs. Files go as multipart (or through presigned uploads with `upload=True`); URLs and uploads
        go as JSON. `step_options` (`scale`, `look`, `intensity`, `makeup_reference`, `params`) go to
        `build_steps`. Each job gets a deterministic idempotency key (`job_key`) unless one is given."""
        step_list = build_steps(steps, **step_options)
        jobs = []
        for item in to_inputs(images):
            item = item.loaded()
            key = idempotency_key or default_key(item, model, step_list, upload)
            if item.data is not None and upload:
                item = ImageInput(name=item.name, upload_id=self.upload(item), sha256=item.sha256)
            if item.data is not None:
                payload = self._call(CREATE, idempotency_key=key, **multipart(model, step_list, item))
            else:
                payload = self._call(CREATE, json=job_body(model, step_list, [item]), idempotency_key=key)
            jobs.extend(jobs_of(payload))
        return jobs

    def get_job(self, job: JobRef) -> Dict[str, Any]:
        """The job (a dict as `GET /v1/jobs/{job_id}` returns it); `job` is an id or a job dict."""
        return self._call(GET, path={"job_id": job_id(job)})

    def warnings(self, job: JobRef) -> List[JobWarning]:
        """The job's warnings; a job dictionary is read as it is, a job id is fetched first."""
        return job_warnings(job if isinstance(job, Mapping) else self.get_job(job))

    def list_jobs(self, *, status: Optional[str] = None, created_after: Optional[str] = None,
                  batch_id: Optional[str] = None, limit: Optional[int] = None) -> Iterator[Dict[str, Any]]:
        """Every job (newest first), following the cursor across pages; `status` one of `JOB_STATUSES`,
        `created_after` an ISO 8601 time, `limit` the page size."""
        return self._pages(LIST, params=without_none(status=status, created_after=created_after, batch_id=batch_id,
                                                     limit=limit))

    def cancel_job(self, job: JobRef) -> Dict[str, Any]:
        """Cancel a queued or running job; returns it (409 `ConflictError` when it is already final)."""
        return self._call(CANCEL, path={"job_id": job_id(job)}, json={})

    def delete_job(self, job: JobRef) -> None:
        """Delete the job's images now (the job is then gone)."""
        self._call(DELETE, path={"job_id": job_id(job)})

    def events(self, job: JobRef) -> Iterator[SSEEvent]:
        """The job's Server-Sent Events as they come, until the server closes the stream (after `end`)."""
        with self._http.stream_lines(EVENTS.path(job_id=job_id(job)), SSE_HEADERS) as lines:
            yield from iter_sse(lines)

    def wait(self, jobs: Iterable[JobRef], *, timeout: float = 900.0, poll_s: float = 0.5,
             progress: Optional[bool] = None, raise_on_failure: bool = False,
             on_done: Optional[Callable[[Dict[str, Any]], None]] = None) -> List[Dict[str, Any]]:
        """Poll until every job is final; returns the final job dicts in the given order. `progress`: a rich
        progress bar (None: only on a terminal); `on_done(job)` is called as each job finishes. Raises
        `WaitTimeout` after `timeout` seconds, `JobFailed` for a job that did not succeed if `raise_on_failure`."""
        ids = [job_id(j) for j in jobs]
        state: Dict[str, Dict[str, Any]] = {i: {"id": i} for i in ids}
        pending = list(dict.fromkeys(ids))
        deadline = time.monotonic() + timeout
        delay = min(poll_s, 0.25)
        with Progress(progress, len(state)) as bar:
            while pending:
                still = []
                for one in pending:
                    job = self.get_job(one)
                    state[one] = job
                    if job.get("status") in TERMINAL_STATUSES:
                        if on_done:
                            on_done(job)
                    else:
                        still.append(one)
                pending = still
                bar.update(sum(job_progress(j) for j in state.values()), summarise(state))
                if not pending:
                    break
                if time.monotonic() > deadline:
                    raise WaitTimeout(f"{len(pending)} job(s) still running after {timeout:.0f} s")
                # one GET per pending job per round: keep rounds under ~20 requests/s for big batches
                self._http.sleep(max(delay, len(pending) / 20))
                delay = min(delay * 1.5, max(poll_s, 2.0))
        return _finished([state[i] for i in ids], raise_on_failure)

    def download(self, jobs: Union[Iterable[Mapping[str, Any]], Mapping[str, Any]],
                 out_dir: Union[str, "os.PathLike[str]"], *,
                 names: Optional[Mapping[str, str]] = None) -> List[Path]:
        """Save the result image of finished jobs under `out_dir` (written atomically); `names` maps a job id to
        a file stem. Returns the saved paths."""
        if isinstance(jobs, Mapping):
            jobs = [jobs]
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        saved = []
        for job in jobs:
            for target, url in targets(job, out, names):
                atomic_write(target, self._http.presigned("GET", url))
                saved.append(target)
        return saved


class AsyncJobs(AsyncResource):
    async def create_jobs(self, images: Any, *, model: str, steps: Steps = ("swap",),
                          idempotency_key: Optional[str] = None, upload: bool = False,
                          **step_options: Any) -> List[Dict[str, Any]]:
        """As `FaceCast.create_jobs`, submitting up to 8 images at once (files read in a thread)."""
        step_list = build_steps(steps, **step_options)
        gate = asyncio.Semaphore(8)  # files in memory at once

        async def submit(item: ImageInput) -> List[Dict[str, Any]]:
            async with gate:
                item = await asyncio.to_thread(item.loaded)
                key = idempotency_key or default_key(item, model, step_list, upload)
                if item.data is not None and upload:
                    item = ImageInput(name=item.name, upload_id=await self.upload(item), sha256=item.sha256)
                if item.data is not None:
                    payload = await self._call(CREATE, idempotency_key=key, **multipart(model, step_list, item))
                else:
                    payload = await self._call(CREATE, json=job_body(model, step_list, [item]),
                                               idempotency_key=key)
                return jobs_of(payload)

        results = await asyncio.gather(*(submit(i) for i in to_inputs(images)))
        return [job for jobs in results for job in jobs]

    async def get_job(self, job: JobRef) -> Dict[str, Any]:
        """The job (a dict as `GET /v1/jobs/{job_id}` returns it); `job` is an id or a job dict."""
        return await self._call(GET, path={"job_id": job_id(job)})

    async def warnings(self, job: JobRef) -> List[JobWarning]:
        """The job's warnings; a job dictionary is read as it is, a job id is fetched first."""
        return job_warnings(job if isinstance(job, Mapping) else await self.get_job(job))

    async def list_jobs(self, *, status: Optional[str] = None, created_after: Optional[str] = None,
                        batch_id: Optional[str] = None, limit: Optional[int] = None) -> AsyncIterator[Dict[str, Any]]:
        """Every job (newest first), following the cursor across pages."""
        async for item in self._pages(LIST, params=without_none(status=status, created_after=created_after,
                                                                batch_id=batch_id, limit=limit)):
            yield item

    async def cancel_job(self, job: JobRef) -> Dict[str, Any]:
        """Cancel a queued or running job; returns it (409 `ConflictError` when it is already final)."""
        return await self._call(CANCEL, path={"job_id": job_id(job)}, json={})

    async def delete_job(self, job: JobRef) -> None:
        """Delete the job's images now (the job is then gone)."""
        await self._call(DELETE, path={"job_id": job_id(job)})

    async def events(self, job: JobRef) -> AsyncIterator[SSEEvent]:
        """The job's Server-Sent Events as they come, until the server closes the stream (after `end`)."""
        async with self._http.stream_lines(EVENTS.path(job_id=job_id(job)), SSE_HEADERS) as lines:
            async for event in aiter_sse(lines):
                yield event

    async def wait(self, jobs: Iterable[JobRef], *, timeout: float = 900.0, poll_s: float = 0.5,
                   progress: Optional[bool] = None, raise_on_failure: bool = False,
                   on_done: Optional[Callable[[Dict[str, Any]], None]] = None) -> List[Dict[str, Any]]:
        """As `FaceCast.wait`, following every job concurrently."""
        ids = [job_id(j) for j in jobs]
        state: Dict[str, Dict[str, Any]] = {i: {"id": i} for i in ids}
        deadline = time.monotonic() + timeout
        with Progress(progress, len(state)) as bar:

            async def follow(one: str) -> None:
                delay = min(poll_s, 0.25)
                while True:
                    job = await self.get_job(one)
                    state[one] = job
                    bar.update(sum(job_progress(j) for j in state.values()), summarise(state))
                    if job.get("status") in TERMINAL_STATUSES:
                        if on_done:
                            on_done(job)
                        return
                    if time.monotonic() > deadline:
                        raise WaitTimeout(f"job {one} still {job.get('status')} after {timeout:.0f} s")
                    await self._http.sleep(delay)
                    delay = min(delay * 1.5, max(poll_s, 2.0))

            await asyncio.gather(*(follow(i) for i in dict.fromkeys(ids)))
        return _finished([state[i] for i in ids], raise_on_failure)

    async def download(self, jobs: Union[Iterable[Mapping[str, Any]], Mapping[str, Any]],
                       out_dir: Union[str, "os.PathLike[str]"], *,
                       names: Optional[Mapping[str, str]] = None) -> List[Path]:
        """As `FaceCast.download`, fetching the results concurrently."""
        if isinstance(jobs, Mapping):
            jobs = [jobs]
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        found = [t for job in jobs for t in targets(job, out, names)]
        datas = await asyncio.gather(*(self._http.presigned("GET", url) for _, url in found))
        for (target, _), data in zip(found, datas):
            atomic_write(target, data)
        return [t for t, _ in found]
