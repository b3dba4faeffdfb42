"""Errors with stable codes.

Every failure a user can cause or meet carries a `code` (stable, machine-readable, used as the
problem+json `type` suffix and as a job's failure code) and a message that says what happened.
`retryable` tells the worker runtime whether another attempt can help (a missing face cannot).
"""
from __future__ import annotations


class FaceCastError(Exception):
    code = "internal"
    http_status = 500
    retryable = False

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, **({"details": self.details} if self.details else {})}


class ConfigError(FaceCastError):
    """The process is configured in a way it must not run with (named setting or file in the message)."""
    code = "configuration"


class InvalidInput(FaceCastError):
    """The request itself is wrong: fix it and send again."""
    code = "invalid-input"
    http_status = 422


class UnsupportedImage(InvalidInput):
    code = "unsupported-image"
    http_status = 415


class ImageTooLarge(InvalidInput):
    code = "image-too-large"
    http_status = 413


class PayloadTooLarge(InvalidInput):
    """A body, upload or field beyond its documented byte limit."""
    code = "payload-too-large"
    http_status = 413


class NoFaceFound(InvalidInput):
    code = "no-face-found"


class FaceTooSmall(InvalidInput):
    code = "face-too-small"


class FaceSelectionError(InvalidInput):
    code = "face-selection"


class SourceCovered(InvalidInput):
    """A virtual model's portrait whose eyes are covered (glasses): it cannot make a clean source face.
    Raised with `reason="source-covered"` (the code, kept in `details` for clients that read the reason)."""
    code = "source-covered"


class NotFound(FaceCastError):
    code = "not-found"
    http_status = 404


class EngineUnavailable(FaceCastError):
    """An engine whose weights are not in the model store (or fail their checks)."""
    code = "engine-unavailable"
    http_status = 409


class WeightsMismatch(EngineUnavailable):
    """A checkpoint whose hash, keys or shapes are not what the manifest promises."""
    code = "weights-mismatch"


class TransientError(FaceCastError):
    """A failure that another attempt may not meet (network, store, broker)."""
    code = "transient"
    http_status = 503
    retryable = True
