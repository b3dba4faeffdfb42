"""A failed request can be traced: its request id is on the response (500 included), in the problem body
and in every log line the request wrote, and the access log records the status the client got."""
from __future__ import annotations

import io
import json
import logging

from shared.telemetry import JsonFormatter


class JsonLines(logging.Handler):
    """Formats at emit time, as the real handler does (the request id is a context variable)."""

    def __init__(self) -> None:
        super().__init__()
        self.stream = io.StringIO()
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.stream.write(self.format(record) + "\n")

    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


async def test_an_unhandled_error_names_its_request_id_in_header_body_and_every_log_line(harness, api):
    async def broken():
        logging.getLogger("facecast.gateway.test").info("about to fail")
        raise RuntimeError("database said no")

    harness.app.add_api_route("/v1/broken", broken)
    lines = JsonLines()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(lines)
    root.setLevel(logging.INFO)
    try:
        response = await api.get("/v1/broken")
        supplied = await api.get("/v1/broken", headers={"X-Request-Id": "req-from-the-shop"})
    finally:
        root.removeHandler(lines)
        root.setLevel(old_level)

    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    body = response.json()
    assert body["request_id"] == request_id and body["code"] == "internal" and body["instance"] == "/v1/broken"
    assert response.headers["content-type"] == "application/problem+json"
    assert supplied.status_code == 500 and supplied.headers["x-request-id"] == "req-from-the-shop"
    assert supplied.json()["request_id"] == "req-from-the-shop"

    mine = [e for e in lines.entries() if e.get("request_id") == request_id]
    assert [e["msg"] for e in mine] == ["about to fail", "unhandled error", "GET /v1/broken 500"]
    assert "RuntimeError: database said no" in mine[1]["exc"]
    assert mine[2]["status"] == 500 and mine[2]["logger"] == "facecast.gateway.access"
    assert not [e for e in lines.entries() if e["msg"] in ("unhandled error", "about to fail") and "request_id" not in e]


async def test_every_response_carries_a_request_id(harness, api):
    for response in (await api.get("/v1/jobs"), await api.get("/v1/jobs/job_missing"),
                     await harness.anonymous().get("/v1/jobs"), await api.post("/v1/castings", json={"n": 0})):
        assert len(response.headers["x-request-id"]) == 32, response.status_code
