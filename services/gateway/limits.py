"""Request body limits, enforced as the bytes arrive (a missing or false Content-Length cannot pass them).

JSON and form bodies: `FACECAST_MAX_JSON_BODY_BYTES`. Multipart job submissions: the images
(`FACECAST_MAX_UPLOAD_BYTES` × `FACECAST_MAX_BATCH_IMAGES`) plus the options. A presigned PUT: its own check
of `FACECAST_MAX_UPLOAD_BYTES` in the objects route. Beyond a limit: 413 `payload-too-large`.
"""
from __future__ import annotations

from shared.errors import PayloadTooLarge
from shared.settings import Settings


class BodyLimit:
    def __init__(self, app, settings: Settings) -> None:
        self.app = app
        self.json_limit = settings.max_json_body_bytes
        self.multipart_limit = settings.max_upload_bytes * settings.max_batch_images + settings.max_json_body_bytes
        self.upload_limit = settings.max_upload_bytes

    def limit(self, scope) -> tuple[int, str]:
        if scope["path"].startswith("/v1/objects/"):
            return self.upload_limit, "FACECAST_MAX_UPLOAD_BYTES"
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if content_type == b"multipart/form-data":
            return self.multipart_limit, "FACECAST_MAX_UPLOAD_BYTES × FACECAST_MAX_BATCH_IMAGES"
        return self.json_limit, "FACECAST_MAX_JSON_BODY_BYTES"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit, setting = self.limit(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._refuse(limit, setting, scope, receive, send)
        if limit != self.json_limit:  # streamed bodies: counted as the route reads them
            return await self.app(scope, self._counting(receive, limit, setting), send)
        # a JSON body is read here whole (it is small), so a body past the limit is answered before any
        # route parses it; later messages (a client's disconnect) pass straight through
        body, message = bytearray(), None
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > limit:
                return await self._refuse(limit, setting, scope, receive, send)
            if not message.get("more_body", False):
                message = {"type": "http.request", "body": bytes(body), "more_body": False}
                break
        first = [message]

        async def replay():
            return first.pop() if first else await receive()

        return await self.app(scope, replay, send)

    @staticmethod
    def _error(limit: int, setting: str) -> PayloadTooLarge:
        return PayloadTooLarge(f"the request body is larger than {limit:,} bytes, the limit ({setting})", limit=limit)

    async def _refuse(self, limit: int, setting: str, scope, receive, send) -> None:
        from services.gateway.problems import problem

        error = self._error(limit, setting)
        await problem(413, error.code, error.message, limit=limit)(scope, receive, send)

    def _counting(self, receive, limit: int, setting: str):
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise self._error(limit, setting)  # inside the route's own body read: answered as 413
            return message

        return counted
