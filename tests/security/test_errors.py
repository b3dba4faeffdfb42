"""Issue 14 item 5: each misleading error gets the right status and a message naming the field or file."""
from __future__ import annotations

import json
import struct
import zlib

import pytest

from tests.security.conftest import INVERT, png_bytes

STEPS = [{"stage": "invert"}]


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG that claims a huge canvas (past Pillow's own decompression-bomb limit)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("body, field", [
    ({"steps": STEPS, "images": [{"upload_id": ""}]}, "images.0.upload_id"),
    ({"steps": STEPS, "images": [{"key": ""}]}, "images.0.key"),
    ({"steps": STEPS, "images": [{"url": ""}]}, "images.0.url"),
    ({"steps": [{"stage": "invert"}], "images": [{"upload_id": "upl_x"}], "virtual_model_id": ""}, "virtual_model_id"),
    ({"steps": [{"stage": "invert", "inputs": {"source": {"virtual_model_id": ""}}}],
      "images": [{"upload_id": "upl_x"}]}, "steps.0.inputs.source.virtual_model_id"),
])
async def test_an_empty_id_is_refused_naming_its_field(api, body, field):
    answer = await api.post("/v1/jobs", json=body)
    problem = answer.json()
    assert answer.status_code == 422 and problem["code"] == "invalid-input", problem
    assert problem["detail"].startswith(field) and "URL" not in problem["detail"]


async def test_an_image_past_the_bomb_limit_is_413_with_its_pixel_count(api):
    answer = await api.post("/v1/jobs", data=INVERT, files=[("image", ("huge.png", png_header(20_000, 20_000),
                                                                       "image/png"))])
    problem = answer.json()
    assert answer.status_code == 413 and problem["code"] == "image-too-large", problem
    assert "400,000,000" in problem["detail"] and "40,000,000" in problem["detail"]
    assert "huge.png" in problem["detail"]


async def test_an_upload_past_the_byte_limit_is_413(make_harness):
    harness = await make_harness(max_upload_bytes=2_000)
    api = await harness.tenant()
    big = png_bytes(64, 64, seed=1)
    assert len(big) > 2_000
    upload = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    put = await harness.anonymous().put(upload["url"], content=big, headers=upload["headers"])
    assert put.status_code == 413 and put.json()["code"] == "payload-too-large", put.text
    part = await api.post("/v1/jobs", data=INVERT, files=[("image", ("large.png", big, "image/png"))])
    assert part.status_code == 413 and "large.png" in part.json()["detail"], part.text


async def test_a_put_with_another_content_type_says_which_one_was_reserved(api, harness):
    upload = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    answer = await harness.anonymous().put(upload["url"], content=png_bytes(), headers={"content-type": "image/jpeg"})
    assert answer.status_code == 415, answer.text
    assert "image/png" in answer.json()["detail"] and "Content-Type" in answer.json()["detail"]
    forged = upload["url"].split("signature=")[0] + "signature=" + "0" * 64  # no hint without a genuine URL
    refused = await harness.anonymous().put(forged, content=png_bytes(), headers={"content-type": "image/jpeg"})
    assert refused.status_code == 404


async def test_a_rejected_batch_names_the_bad_file(api):
    files = [("image", ("good-1.png", png_bytes(seed=1), "image/png")),
             ("image", ("shoe.png", b"this is not an image", "image/png")),
             ("image", ("good-3.png", png_bytes(seed=3), "image/png"))]
    answer = await api.post("/v1/jobs", data=INVERT, files=files)
    problem = answer.json()
    assert answer.status_code == 415 and "image 2 (shoe.png)" in problem["detail"], problem
    assert problem["details"]["field"] == "image 2 (shoe.png)"
    by_reference = await api.post("/v1/jobs", json={"steps": STEPS, "images": [
        {"key": f"tenants/{api.tenant_id}/nothing-1.png"}]})
    assert by_reference.status_code == 404 and by_reference.json()["detail"].startswith("images[0]: ")


async def test_one_code_for_body_validation(api):
    """FastAPI's own body validation and the job options' validation answer the same code."""
    framework = await api.post("/v1/uploads", json={"content_type": "image/gif"})
    ours = await api.post("/v1/jobs", content=json.dumps({"steps": []}), headers={"content-type": "application/json"})
    assert framework.status_code == ours.status_code == 422
    assert framework.json()["code"] == ours.json()["code"] == "invalid-input"
