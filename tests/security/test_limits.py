"""Issue 14 item 6: documented limits on JSON bodies and job metadata (413 beyond them), and webhook payloads
that always carry the job id, status and result URL."""
from __future__ import annotations

import json

from services.gateway.domain.jobs import METADATA_TOTAL_BYTES, METADATA_VALUE_CHARS
from services.gateway.webhooks import MAX_PAYLOAD_BYTES, encode_payload
from shared.ids import utcnow
from tests.security.conftest import png_bytes

STEPS = [{"stage": "invert"}]


async def test_a_json_body_past_the_limit_is_413_declared_or_streamed(make_harness):
    harness = await make_harness(max_json_body_bytes=50_000)
    api = await harness.tenant()
    body = json.dumps({"steps": STEPS, "images": [{"url": "https://example.com/a.png"}],
                       "metadata": {"pad": "x" * 60_000}}).encode()
    declared = await api.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.json()["code"] == "payload-too-large", declared.text
    assert "FACECAST_MAX_JSON_BODY_BYTES" in declared.json()["detail"]

    async def chunks():  # no Content-Length: counted as it arrives
        for start in range(0, len(body), 8192):
            yield body[start:start + 8192]

    streamed = await api.post("/v1/castings", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413, streamed.text
    assert (await api.get("/v1/jobs")).json()["data"] == []


async def test_small_bodies_still_pass(api):
    answer = await api.post("/v1/jobs", data={"options": json.dumps({"steps": STEPS, "metadata": {"order": "17"}})},
                            files=[("image", ("p.png", png_bytes(), "image/png"))])
    assert answer.status_code == 202 and answer.json()["metadata"] == {"order": "17"}


async def test_metadata_past_its_limits_is_413_naming_the_key(api):
    too_long = await api.post("/v1/jobs", json={"steps": STEPS, "images": [{"upload_id": "upl_x"}],
                                                "metadata": {"note": "x" * 30_000}})
    assert too_long.status_code == 413 and "metadata.note" in too_long.json()["detail"], too_long.text
    key = await api.post("/v1/jobs", json={"steps": STEPS, "images": [{"upload_id": "upl_x"}],
                                           "metadata": {"k" * 41: "v"}})
    assert key.status_code == 413 and "metadata key" in key.json()["detail"]
    many = {f"key-{i:02d}": "v" * METADATA_VALUE_CHARS for i in range(METADATA_TOTAL_BYTES // METADATA_VALUE_CHARS + 1)}
    total = await api.post("/v1/jobs", json={"steps": STEPS, "images": [{"upload_id": "upl_x"}], "metadata": many})
    assert total.status_code == 413 and total.json()["detail"].startswith("metadata:"), total.text


def test_a_webhook_payload_always_keeps_id_status_and_result_url():
    result = {"url": "https://files.example/result.png?sig=abc", "url_expires_at": "2030-01-01T00:00:00+00:00",
              "content_type": "image/png", "sha256": "0" * 64, "size": 10}
    data = {"id": "job_1", "object": "job", "kind": "photo", "batch_id": None, "status": "succeeded",
            "result": result, "error": None, "metadata": {f"k{i}": "m" * 5_000 for i in range(30)},
            "engines": [{"stage": "invert", "engine": "x" * 500}] * 50,
            "steps": [{"number": i, "stage": "invert", "status": "succeeded"} for i in range(200)]}
    text = encode_payload("job.succeeded", data, utcnow())
    payload = json.loads(text)["data"]
    assert len(text.encode()) <= MAX_PAYLOAD_BYTES
    assert payload["id"] == "job_1" and payload["status"] == "succeeded" and payload["truncated"] is True
    assert payload["result"]["url"] == result["url"]


async def test_the_webhook_of_a_job_with_the_largest_metadata_carries_its_result_url(api, harness):
    from services.gateway.db.models import Job
    from services.gateway.events import webhook_job_data

    metadata = {f"key-{i:02d}": "v" * (METADATA_TOTAL_BYTES // 20 - 6) for i in range(20)}  # every limit, just
    submitted = await api.post("/v1/jobs", data={"options": json.dumps({"steps": STEPS, "metadata": metadata})},
                               files=[("image", ("p.png", png_bytes(), "image/png"))])
    assert submitted.status_code == 202, submitted.text
    await api.wait_job(submitted.json()["id"])
    async with harness.gw.reader() as session:
        job = await session.get(Job, submitted.json()["id"])
    payload = json.loads(encode_payload("job.succeeded", webhook_job_data(harness.gw, job),
                                        utcnow()))["data"]
    assert "truncated" not in payload and payload["metadata"] == metadata
    assert payload["result"]["url"].startswith("http") and payload["id"] == job.id


async def test_more_metadata_keys_than_the_limit_is_413_like_the_other_metadata_limits(api):
    """README: at most 20 keys ... (413 beyond); the key count was answered 422 by the schema."""
    many = await api.post("/v1/jobs", json={"steps": STEPS, "images": [{"upload_id": "upl_x"}],
                                            "metadata": {f"k{i}": "v" for i in range(21)}})
    assert many.status_code == 413 and many.json()["detail"].startswith("metadata:"), many.text
    assert "20" in many.json()["detail"]


async def test_a_multipart_options_field_past_the_part_limit_is_413(api):
    options = json.dumps({"steps": STEPS, "metadata": {"pad": "x" * 2_000_000}})
    answer = await api.post("/v1/jobs", data={"options": options}, files=[("image", ("p.png", png_bytes(), "image/png"))])
    assert answer.status_code == 413 and answer.json()["code"] == "payload-too-large", answer.text
