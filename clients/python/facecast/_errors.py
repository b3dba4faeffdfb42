"""What the client raises: `FaceCastError` for everything, `APIError` with one class per HTTP status family.

The gateway answers every error with an RFC 9457 problem document (`application/problem+json`: `type`,
`title`, `status`, `detail`, and FaceCast's own `code`); `APIError` carries it. `raise_for_response` picks the
class from the status: 400 `BadRequestError`, 401 `AuthenticationError`, 403 `PermissionDeniedError`,
404 `NotFoundError`, 409 `ConflictError`, 413 `PayloadTooLargeError`, 415 `UnsupportedMediaTypeError`,
422 `UnprocessableEntityError`, 429 `RateLimitError`, 5xx `ServerError`; any other status `APIError` itself.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Type

import httpx

__all__ = [
    "FaceCastError", "APIError", "BadRequestError", "AuthenticationError", "PermissionDeniedError", "NotFoundError",
    "ConflictError", "PayloadTooLargeError", "UnsupportedMediaTypeError", "UnprocessableEntityError",
    "RateLimitError", "ServerError", "JobFailed", "WaitTimeout", "WebhookVerificationError", "raise_for_response",
]


class FaceCastError(Exception):
    """Base class of everything this client raises on purpose."""


class APIError(FaceCastError):
    """The API answered with an error status.

    `status` (int), `problem` (the problem document as a dict, empty when the body was not one), `type`
    (a problem type URI, `about:blank` when none), `code` (FaceCast's error code such as `no-face-found` or
    `source-covered`), `title`, `detail` (str), `details` (the problem's `details`: `field`, `limit`,
    `reason`, …; empty when none), `errors` (each field at fault on a 422: dicts with `loc`, the field's
    path as a list, `msg` and `type`; empty when none) and `request_id` (the `x-request-id` response header,
    to quote to support).
    """

    def __init__(self, status: int, problem: Optional[Mapping[str, Any]] = None, *, request_id: Optional[str] = None,
                 text: str = ""):
        self.status = status
        self.problem = dict(problem or {})
        self.type = self.problem.get("type", "about:blank")
        self.code = self.problem.get("code")
        self.title = self.problem.get("title", "")
        self.detail = self.problem.get("detail", "") or text[:500]
        details = self.problem.get("details")
        self.details: Dict[str, Any] = dict(details) if isinstance(details, Mapping) else {}
        errors = self.problem.get("errors")
        self.errors: List[Dict[str, Any]] = ([dict(e) for e in errors if isinstance(e, Mapping)]
                                             if isinstance(errors, list) else [])
        self.request_id = request_id
        message = f"HTTP {status}"
        if self.title:
            message += f" {self.title}"
        if self.detail:
            message += f": {self.detail}"
        if request_id:
            message += f" (request {request_id})"
        super().__init__(message)


class BadRequestError(APIError):
    """400: the request could not be read."""


class AuthenticationError(APIError):
    """401: no API key, or one that is unknown or revoked."""


class PermissionDeniedError(APIError):
    """403: the key lacks the scope (`read`, `write`, `admin`) the operation needs."""


class NotFoundError(APIError):
    """404: no such resource for this tenant (or its images were purged)."""


class ConflictError(APIError):
    """409: the resource's state does not allow it (a finished job cancelled, an engine without weights)."""


class PayloadTooLargeError(APIError):
    """413: an image or the metadata is past the server's limit."""


class UnsupportedMediaTypeError(APIError):
    """415: not a PNG, JPEG or WebP image, or an empty one."""


class UnprocessableEntityError(APIError):
    """422: the request was read but is invalid (no face found, a bad step, an idempotency key reused)."""


class RateLimitError(APIError):
    """429: too many requests; the client retries these by itself before raising."""


class ServerError(APIError):
    """5xx: the server failed or a stage is unavailable; the client retries these by itself before raising."""


_BY_STATUS: Dict[int, Type[APIError]] = {
    400: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
    409: ConflictError, 413: PayloadTooLargeError, 415: UnsupportedMediaTypeError, 422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class(status: int) -> Type[APIError]:
    """The `APIError` subclass for an HTTP status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIError)


class JobFailed(FaceCastError):
    """A job (or casting) ended `failed` or `canceled` where the caller asked for success; `job` is its dict,
    `code` its error's code (`no-face-found`, `source-covered`, `canceled`, …; None when it has none)."""

    def __init__(self, job: Mapping[str, Any]):
        self.job = dict(job)
        error = job.get("error") or {}
        self.code: Optional[str] = error.get("code") if isinstance(error, Mapping) else None
        message = error.get("message") if isinstance(error, Mapping) else error
        super().__init__(f"job {job.get('id')} {job.get('status')}: {message or ''}".rstrip(": "))


class WaitTimeout(FaceCastError):
    """Jobs (or a casting) still unfinished when the wait's `timeout` ran out."""


class WebhookVerificationError(FaceCastError):
    """A webhook delivery that is not signed with the endpoint's secret, is too old, or is not JSON."""


def raise_for_response(response: httpx.Response) -> None:
    """Raise the `APIError` subclass for a non-2xx response (with its problem document when it has one)."""
    if response.is_success:
        return
    problem = None
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    if media_type in ("application/problem+json", "application/json"):
        try:
            body = response.json()
            problem = body if isinstance(body, dict) else None
        except ValueError:
            problem = None
    if problem is not None and "detail" in problem and not isinstance(problem["detail"], str):
        problem = {**problem, "detail": json.dumps(problem["detail"])[:500]}
    raise error_class(response.status_code)(response.status_code, problem,
                                            request_id=response.headers.get("x-request-id"),
                                            text=response.text if problem is None else "")
