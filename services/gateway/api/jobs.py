"""`/v1/jobs`: submit (one image or a batch), read, list, cancel, delete, follow (SSE)."""
from __future__ import annotations

import asyncio
import json
from contextlib import aclosing
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartParser

from services.gateway.api.deps import (Changes, Cursor, Limit, ReadSessions, Reader, Sessions, SettingsDep, StoreDep,
                                       SubmissionDep, Writer)
from services.gateway.domain import jobs as job_service
from services.gateway.problems import field_errors
from services.gateway.responses import json_response
from services.gateway.schemas import BatchOut, JobCreate, JobList, JobOut, JobStatus
from shared.errors import InvalidInput, PayloadTooLarge, UnsupportedImage

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/JobCreate"}},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["options"],
                "properties": {
                    "options": {"type": "string", "description": "JobCreate as JSON"},
                    "image": {"type": "array", "items": {"type": "string", "format": "binary"}},
                },
            }},
        },
    }
}
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


def _parse_options(raw: bytes | str, field: str | None) -> JobCreate:
    """The job options from the JSON body (`field` None) or from the multipart field `field`: a field error's
    `loc` is the path in the options, under the multipart field's name when they came in one; an error
    about the whole document (missing, not JSON) is at `body` or that field."""
    where = [field or "body"]
    if not raw or not raw.strip():
        what = f"{field}: the multipart field is missing or empty" if field else "the request body is empty"
        raise InvalidInput(f"{what}: send the job options (steps, images) as JSON", errors=[
            {"loc": where, "msg": "the job options (steps, images) as JSON are required", "type": "missing"}])
    try:
        spec = JobCreate.model_validate_json(raw)
    except ValidationError as exc:
        for error in exc.errors():  # more metadata keys than the schema allows: a documented size limit, 413
            if tuple(error.get("loc", ())) == ("metadata",) and error.get("type") == "too_long":
                limit = (error.get("ctx") or {}).get("max_length")
                raise PayloadTooLarge(f"metadata: more than {limit} keys, the limit", field="metadata",
                                      limit=limit) from None
        first = exc.errors()[0]
        if first["type"] == "json_invalid":  # pydantic's own message carries the parser's line and column
            message = f"not valid JSON ({(first.get('ctx') or {}).get('error') or first['msg']})"
            raise InvalidInput(f"{field or 'the request body'}: {message}", errors=[
                {"loc": where, "msg": message, "type": "json_invalid"}]) from None
        errors = [{**e, "loc": e["loc"] or where} for e in field_errors(exc.errors(), (field,) if field else ())]
        raise InvalidInput(f"{'.'.join(errors[0]['loc'])}: {first['msg']}", errors=errors) from None
    job_service.check_metadata(spec.metadata)
    return spec


def _image_too_large(index: int, filename: str, max_bytes: int) -> PayloadTooLarge:
    name = f"image {index} ({filename})" if filename else f"image {index}"
    return PayloadTooLarge(f"{name} is larger than {max_bytes:,} bytes, the limit (FACECAST_MAX_UPLOAD_BYTES)",
                           field=name, limit=max_bytes)


class LimitedMultiPartParser(MultiPartParser):
    """Starlette's multipart parser with a limit on each file part, counted as its bytes arrive: a part past
    `FACECAST_MAX_UPLOAD_BYTES` stops the read at once (413), before more of it reaches the temporary file.
    (Starlette's own `max_part_size` bounds only the non-file fields.) The whole body is bounded as it
    arrives by `limits.BodyLimit`."""

    def __init__(self, *args, max_file_bytes: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_file_bytes = max_file_bytes
        self._file_index = 0
        self._file_bytes = 0

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        self._file_bytes = 0
        if self._current_part.file is not None and self._current_part.field_name == "image":
            self._file_index += 1  # numbered as the route numbers them: `image` parts only

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is not None:
            self._file_bytes += end - start
            if self._file_bytes > self.max_file_bytes:
                if self._current_part.field_name != "image":
                    raise PayloadTooLarge(f"the multipart field {self._current_part.field_name!r} is larger than "
                                          f"{self.max_file_bytes:,} bytes", field=self._current_part.field_name,
                                          limit=self.max_file_bytes)
                raise _image_too_large(self._file_index, self._current_part.file.filename or "",
                                       self.max_file_bytes)
        super().on_part_data(data, start, end)


async def _read_form(request: Request, max_files: int, max_bytes: int) -> FormData:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "multipart/form-data":
        return await request.form(max_files=max_files, max_fields=20)
    async with aclosing(request.stream()) as stream:
        form = await LimitedMultiPartParser(request.headers, stream, max_files=max_files, max_fields=20,
                                            max_file_bytes=max_bytes).parse()
    request._form = form  # closed (its temporary files removed) with the request, as Starlette's own
    return form


async def _read_request(request: Request, max_files: int, max_bytes: int) -> tuple[JobCreate, list]:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            form = await _read_form(request, max_files, max_bytes)
        except PayloadTooLarge:  # the body limit, counted as it arrived
            raise
        except Exception as exc:  # malformed multipart, too many parts
            if "exceeded maximum size" in str(exc):  # a non-file part (`options`) past Starlette's part limit
                raise PayloadTooLarge(f"a multipart field is too large: {exc}", field="options") from None
            raise InvalidInput(f"cannot read the multipart body: {exc}") from None
        options = form.get("options")
        if isinstance(options, UploadFile):
            options = await options.read()
        spec = _parse_options(options or b"", "options")
        files = []
        for index, part in enumerate(form.getlist("image"), start=1):
            if not isinstance(part, UploadFile):
                raise InvalidInput(f"image {index}: `image` must be a file part", field=f"image {index}")
            name = f"image {index} ({part.filename})" if part.filename else f"image {index}"
            data = await part.read(max_bytes + 1)
            if len(data) > max_bytes:  # counted while parsing already; kept as a second check
                raise _image_too_large(index, part.filename or "", max_bytes)
            if not data:
                raise UnsupportedImage(f"{name} is empty", field=name)
            files.append(job_service.FilePart(filename=part.filename or "", data=data))
        return spec, files
    if content_type in ("application/json", ""):
        return _parse_options(await request.body(), None), []
    raise UnsupportedImage(f"send application/json or multipart/form-data, not {content_type!r}")


@router.post("", status_code=202, response_model=JobOut | BatchOut, openapi_extra=_BODY_DOC,
             summary="Submit a job for one image, or a batch (one job per image)",
             responses={202: {"description": "queued"}})
async def create_job(request: Request, ctx: SubmissionDep, caller: Writer,
                     idempotency_key: IdempotencyKey = None) -> Response:
    spec, files = await _read_request(request, ctx.settings.max_batch_images, ctx.settings.max_upload_bytes)
    created = await job_service.submit(ctx, caller, spec, files, idempotency_key)
    views = [job_service.job_view(ctx.settings, ctx.store, job, caller.retention_days) for job in created]
    if len(views) == 1:
        return json_response(views[0], 202, headers={"Location": f"/v1/jobs/{created[0].id}"})
    return json_response({"batch_id": created[0].batch_id, "object": "batch", "jobs": views}, 202)


@router.get("", response_model=JobList, summary="List jobs, newest first (cursor pagination)")
async def list_jobs(reader: ReadSessions, settings: SettingsDep, store: StoreDep, caller: Reader,
                    status: JobStatus | None = None, created_after: datetime | None = None,
                    batch_id: Annotated[str | None, Query(max_length=64)] = None, cursor: Cursor = None,
                    limit: Limit = 20) -> Response:
    async with reader() as session:
        page, next_cursor = await job_service.list_jobs(session, caller.tenant_id, status, created_after, batch_id,
                                                        cursor, limit)
    return json_response({"data": [job_service.job_view(settings, store, job, caller.retention_days) for job in page],
                          "next_cursor": next_cursor})


@router.get("/{job_id}", response_model=JobOut, summary="A job: state, steps with timings, results, engines")
async def get_job(job_id: str, reader: ReadSessions, settings: SettingsDep, store: StoreDep,
                  caller: Reader) -> Response:
    async with reader() as session:
        job = await job_service.get_job(session, caller.tenant_id, job_id)
    return json_response(job_service.job_view(settings, store, job, caller.retention_days))


@router.post("/{job_id}:cancel", response_model=JobOut, summary="Cancel a queued or running job")
async def cancel_job(job_id: str, sessions: Sessions, settings: SettingsDep, store: StoreDep, changes: Changes,
                     caller: Writer) -> dict:
    job = await job_service.cancel(sessions, store, changes, caller.tenant_id, job_id)
    return job_service.job_view(settings, store, job, caller.retention_days)


@router.delete("/{job_id}", status_code=204, summary="Delete the job's images now (the job is then gone)")
async def delete_job(job_id: str, sessions: Sessions, store: StoreDep, changes: Changes, caller: Writer) -> Response:
    await job_service.delete(sessions, store, changes, caller.tenant_id, job_id)
    return Response(status_code=204)


@router.get("/{job_id}/events", summary="Server-Sent Events: progress per step until the job finishes",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def job_events(job_id: str, request: Request, reader: ReadSessions, changes: Changes, caller: Reader,
                     last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None):
    async with reader() as session:
        await job_service.get_job(session, caller.tenant_id, job_id)
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0

    async def stream():
        nonlocal after
        yield "retry: 2000\n\n"
        idle = 0.0
        while True:
            async with reader() as session:
                records, job = await job_service.events_since(session, job_id, after)
            for record in records:
                after = record.id
                data = {"job_id": job_id, "kind": record.kind, "stage": record.stage, "step": record.step,
                        "sequence": record.sequence, "at": record.at.isoformat(), **record.data}
                yield f"id: {record.id}\nevent: {record.kind}\ndata: {json.dumps(data)}\n\n"
            if job is None or job.status in job_service.TERMINAL:
                status = job.status if job is not None else "deleted"
                end = {"job_id": job_id, "status": status}
                if job is not None and (warnings := job_service.job_warnings(job)):
                    end["warnings"] = warnings  # every step's, as on the job
                yield f"event: end\ndata: {json.dumps(end)}\n\n"
                return
            if await request.is_disconnected():
                return
            if idle >= 15.0:
                yield ": keep-alive\n\n"
                idle = 0.0
            started = asyncio.get_running_loop().time()
            await changes.wait(1.0)
            idle += asyncio.get_running_loop().time() - started

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
