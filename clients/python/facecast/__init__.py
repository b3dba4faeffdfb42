"""FaceCast client for shop platforms, store plugins and scripts (distribution `facecast-client`).

    from facecast import FaceCast
    with FaceCast(api_key="fck_...", base_url="https://facecast.example") as fc:
        jobs = fc.create_jobs(["a.jpg", "b.jpg"], model="vm_...", steps="swap,enhance", scale=2)
        fc.download(fc.wait(jobs), "out/")

`AsyncFaceCast` has the same methods as coroutines. Requests are retried on 408/425/429/5xx and connection
errors with backoff that honours `Retry-After`; every POST carries an `Idempotency-Key`. `verify_webhook`
checks a Standard Webhooks delivery in a shop's receiver.
"""
from __future__ import annotations

from ._client import AsyncFaceCast, FaceCast
from ._errors import (APIError, AuthenticationError, BadRequestError, ConflictError, FaceCastError, JobFailed,
                      NotFoundError, PayloadTooLargeError, PermissionDeniedError, RateLimitError, ServerError,
                      UnprocessableEntityError, UnsupportedMediaTypeError, WaitTimeout, WebhookVerificationError)
from ._http import RetryPolicy, parse_retry_after
from ._version import __version__
from .inputs import IMAGE_SUFFIXES, ImageInput, build_steps, job_key, list_photos, to_inputs
from .resources.jobs import (JOB_STATUSES, TERMINAL_STATUSES, JobWarning, job_progress, job_warnings,
                             result_urls)
from .resources.webhook_endpoints import EVENT_TYPES
from .sse import SSEEvent, iter_sse
from .webhooks import sign_webhook, verify_webhook

__all__ = [
    "FaceCast", "AsyncFaceCast", "__version__",
    "FaceCastError", "APIError", "BadRequestError", "AuthenticationError", "PermissionDeniedError", "NotFoundError",
    "ConflictError", "PayloadTooLargeError", "UnsupportedMediaTypeError", "UnprocessableEntityError",
    "RateLimitError", "ServerError", "JobFailed", "WaitTimeout", "WebhookVerificationError",
    "RetryPolicy", "parse_retry_after", "verify_webhook", "sign_webhook", "SSEEvent", "iter_sse",
    "ImageInput", "IMAGE_SUFFIXES", "build_steps", "job_key", "list_photos", "to_inputs",
    "JOB_STATUSES", "TERMINAL_STATUSES", "EVENT_TYPES", "JobWarning", "job_warnings", "job_progress", "result_urls",
]
