"""Review of issue 14: a multipart image part past `FACECAST_MAX_UPLOAD_BYTES` is refused while it streams
(413 as soon as the part passes the limit), not after the whole part was written to a temporary file."""
from __future__ import annotations

import json

from tests.security.conftest import png_bytes

BOUNDARY = "facecast-test-boundary"


def multipart_chunks(parts: list[tuple[str, str | None, bytes]], sent: list[int], chunk: int = 8192):
    """A multipart body as an async stream (no Content-Length), counting in `sent` the bytes the server read."""
    body = bytearray()
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename:
            body += b"Content-Type: image/png\r\n"
        body += b"\r\n" + data + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()

    async def stream():
        for start in range(0, len(body), chunk):
            piece = bytes(body[start:start + chunk])
            sent[0] += len(piece)
            yield piece

    return stream()


OPTIONS = json.dumps({"steps": [{"stage": "invert"}]}).encode()
HEADERS = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


async def test_an_image_part_past_the_limit_stops_the_read_at_once(make_harness):
    limit = 20_000
    harness = await make_harness(max_upload_bytes=limit)  # the request limit: 100 images × 20 kB + options
    api = await harness.tenant()
    sent = [0]
    big = png_bytes() + b"\0" * 1_500_000
    answer = await api.post("/v1/jobs", headers=HEADERS, content=multipart_chunks(
        [("options", None, OPTIONS), ("image", "small.png", png_bytes(seed=1)), ("image", "big.png", big)], sent))
    assert answer.status_code == 413 and answer.json()["code"] == "payload-too-large", answer.text
    assert answer.json()["detail"] == f"image 2 (big.png) is larger than {limit:,} bytes, the limit " \
                                      "(FACECAST_MAX_UPLOAD_BYTES)"
    assert sent[0] < 4 * limit + 16_384, f"read {sent[0]:,} bytes of a {len(big):,}-byte part before the 413"
    assert (await api.get("/v1/jobs")).json()["data"] == []


async def test_parts_within_the_limit_still_pass_when_streamed(make_harness):
    harness = await make_harness(max_upload_bytes=20_000)
    api = await harness.tenant()
    sent = [0]
    answer = await api.post("/v1/jobs", headers=HEADERS, content=multipart_chunks(
        [("options", None, OPTIONS), ("image", "a.png", png_bytes(seed=1)), ("image", "b.png", png_bytes(seed=2))],
        sent))
    assert answer.status_code == 202 and len(answer.json()["jobs"]) == 2, answer.text


async def test_the_whole_request_limit_still_answers_413_while_streaming(make_harness):
    harness = await make_harness(max_upload_bytes=20_000, max_batch_images=2, max_json_body_bytes=10_000)
    api = await harness.tenant()
    sent = [0]
    parts = [("options", None, OPTIONS)] + [("pad", None, b"x" * 9_000)] * 8
    answer = await api.post("/v1/jobs", headers=HEADERS, content=multipart_chunks(parts, sent))
    assert answer.status_code == 413 and "FACECAST_MAX_UPLOAD_BYTES × FACECAST_MAX_BATCH_IMAGES" in \
        answer.json()["detail"], answer.text
    assert sent[0] < 2 * 20_000 + 10_000 + 16_384
