"""Fast JSON for the hot read paths: the views are plain dicts already shaped like the response models,
so they are dumped directly instead of being validated again (the models still document them)."""
from __future__ import annotations

import json
from datetime import datetime

from fastapi.responses import Response


def _default(value):
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_response(body, status_code: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body, default=_default, separators=(",", ":"), ensure_ascii=False).encode(),
                    status_code=status_code, media_type="application/json", headers=headers)
