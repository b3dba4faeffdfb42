"""Standard Webhooks (standardwebhooks.com, v1 symmetric signatures) for a shop's webhook receiver.

A FaceCast delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`
(space-separated `v1,<base64 HMAC-SHA256>` of `"{id}.{timestamp}.{body}"`, keyed with the base64 secret after
`whsec_`). The gateway signs with the same scheme (services/gateway/webhooks.py).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ._errors import WebhookVerificationError

__all__ = ["verify_webhook", "sign_webhook", "WebhookVerificationError"]

Secret = Union[str, bytes]


def _webhook_keys(secret: Union[Secret, Sequence[str]]) -> List[bytes]:
    secrets = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    keys = []
    for item in secrets:
        if isinstance(item, bytes):
            keys.append(item)
            continue
        raw = item[len("whsec_"):] if item.startswith("whsec_") else item
        try:
            keys.append(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError):
            raise WebhookVerificationError("the webhook secret is not whsec_<base64>") from None
    return keys


def sign_webhook(secret: Secret, msg_id: str, timestamp: Union[int, str], body: Union[bytes, str]) -> str:
    """The `webhook-signature` value a Standard Webhooks sender puts on a message: `v1,<base64>`.

    `secret` is `whsec_<base64 key>` (or the raw key bytes); `timestamp` Unix seconds; `body` the exact body."""
    key = _webhook_keys(secret)[0]
    payload = body.encode() if isinstance(body, str) else body
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + payload, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify_webhook(secret: Union[Secret, Sequence[str]], headers: Mapping[str, str], body: Union[bytes, str], *,
                   tolerance_s: int = 300, now: Optional[float] = None) -> Dict[str, Any]:
    """Check a Standard Webhooks delivery and return its JSON payload (a dict with `type` and `data`).

    `secret` is the endpoint's `whsec_…` secret (or a list of them while a rotation overlaps); `headers` any
    mapping of the request headers (any case); `body` the raw body exactly as received. Raises
    `WebhookVerificationError` when a header is missing, the timestamp is more than `tolerance_s` seconds
    away from `now` (a replay), no `v1` signature matches (compared in constant time), or the body is not JSON.
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
        raise WebhookVerificationError(
            f"webhook-timestamp is {int(current - ts)} s away from now (tolerance {tolerance_s} s)")
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
