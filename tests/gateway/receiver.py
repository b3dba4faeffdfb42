"""A real HTTP server for webhook tests, answering from a script of status codes, and an independent
Standard Webhooks verifier (written from the spec, not from the gateway's code)."""
from __future__ import annotations

import base64
import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, script: list[tuple[int, dict]] | None = None, default: int = 200) -> None:
        self.script = list(script or [])
        self.default = default
        self.requests: list[dict] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status, headers = receiver.script.pop(0) if receiver.script else (receiver.default, {})
                receiver.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                receiver.answers.append(status)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def accepted(self) -> list[dict]:
        return [r for r, status in zip(self.requests, self.answers) if 200 <= status < 300]

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify_standard_webhook(secret: str, headers: dict, body: bytes) -> bool:
    """True when one of the `v1,` signatures is HMAC-SHA256(base64-decoded secret, id.timestamp.body)."""
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_"):])
    content = headers["webhook-id"].encode() + b"." + headers["webhook-timestamp"].encode() + b"." + body
    expected = base64.b64encode(hmac.digest(key, content, "sha256")).decode()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False
