"""Every error as `application/problem+json` (RFC 9457) with a stable `type` per error code.

Field errors have one shape wherever they come from (the framework's request checks, the job options, a
stage's params): a top-level `errors` extension member, a list of `{loc, msg, type}` where `loc` is the path
of the field (`["options", "steps", 0, "stage"]`, `["query", "limit"]`). A `FaceCastError` raised with an
`errors` detail (built by `field_errors`) is served that way; its other details stay under `details`."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import FaceCastError
from shared.telemetry import log_fields, request_id_var

logger = logging.getLogger("facecast.gateway")
PROBLEM_BASE = "https://facecast.dev/problems/"
PROBLEM_JSON = "application/problem+json"


class Unauthorized(FaceCastError):
    code = "unauthorized"
    http_status = 401


class Forbidden(FaceCastError):
    """The key is valid but lacks the scope the operation needs."""
    code = "insufficient-scope"
    http_status = 403


class RateLimited(FaceCastError):
    code = "rate-limited"
    http_status = 429

    def __init__(self, message: str, retry_after_s: float, **details):
        super().__init__(message, **details)
        self.retry_after_s = retry_after_s


class Conflict(FaceCastError):
    code = "conflict"
    http_status = 409


class IdempotencyKeyReused(FaceCastError):
    code = "idempotency-key-reused"
    http_status = 422


class StageUnavailable(FaceCastError):
    code = "stage-unavailable"
    http_status = 503


class UrlRefused(FaceCastError):
    """A webhook or image URL that the SSRF guard will not reach."""
    code = "url-refused"
    http_status = 422


class FetchFailed(FaceCastError):
    code = "fetch-failed"
    http_status = 422


MAX_FIELD_ERRORS = 10


def field_errors(errors, prefix: tuple = ()) -> list[dict]:
    """Pydantic-style errors (`loc`, `msg`, `type`) as the problem's `errors` items, each `loc` under `prefix`
    (the part of the request the errors are about); the first MAX_FIELD_ERRORS, which is plenty to fix."""
    return [{"loc": [str(p) for p in (*prefix, *e.get("loc", ()))], "msg": e.get("msg", ""),
             "type": e.get("type", "")} for e in list(errors)[:MAX_FIELD_ERRORS]]


_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           409: "Conflict", 413: "Payload too large", 415: "Unsupported media type", 422: "Unprocessable content",
           429: "Too many requests", 500: "Internal error", 503: "Service unavailable"}


def problem(status: int, code: str, detail: str, request: Request | None = None, headers: dict | None = None,
            **extra) -> JSONResponse:
    body = {"type": PROBLEM_BASE + code, "title": _TITLES.get(status, "Error"), "status": status, "code": code,
            "detail": detail}
    if request is not None:
        body["instance"] = request.url.path
    if (request_id := request_id_var.get()) is not None:
        body["request_id"] = request_id
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(FaceCastError)
    async def _facecast_error(request: Request, exc: FaceCastError):
        headers = None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(max(1, int(exc.retry_after_s + 0.999)))}
        details = dict(exc.details)
        errors = details.pop("errors", None)
        extra = {**({"details": details} if details else {}), **({"errors": errors} if errors else {})}
        if exc.http_status >= 500:
            logger.error(f"{exc.code}: {exc.message}", extra=log_fields(path=request.url.path))
        return problem(exc.http_status, exc.code, exc.message, request, headers, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        errors = field_errors(exc.errors())
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        detail = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else first["msg"]
        # the same code as every other body check (`InvalidInput`): one code for "fix the request body"
        return problem(422, "invalid-input", detail, request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, code, str(exc.detail), request, getattr(exc, "headers", None))


def document_problems(schema: dict) -> None:
    """Make the OpenAPI document say what a 422 really is: FastAPI documents its own `HTTPValidationError`
    (`detail` as a list), but every error here is a `Problem` with the field errors in `errors`. The
    `Problem` schema must be in the components already; its `code` lists the codes the gateway knows."""
    from services.gateway.steps import error_classes

    problem_schema = schema["components"]["schemas"]["Problem"]
    problem_schema["properties"]["code"]["description"] = (
        "FaceCast's stable error code (also the end of `type`): " + ", ".join(f"`{c}`" for c in sorted(error_classes())))
    answer = {"description": "the request is invalid: `detail` says why, `errors` lists the fields at fault",
              "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if "422" in operation.get("responses", {}):
                operation["responses"]["422"] = answer
    for fastapi_own in ("HTTPValidationError", "ValidationError"):
        schema["components"]["schemas"].pop(fastapi_own, None)


def unexpected_error(path: str) -> JSONResponse:
    """The 500 for an exception no handler took, logged with its traceback. Called by the request-id
    middleware while the request id is still set, so the log line, the body and the header all carry it
    (an `Exception` handler runs in Starlette's outermost middleware, after the request id is gone)."""
    logger.exception("unhandled error", extra=log_fields(path=path))
    return problem(500, "internal", "an unexpected error happened; the request id identifies it in the logs",
                   instance=path)
