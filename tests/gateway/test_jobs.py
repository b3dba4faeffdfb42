"""The job path end to end on the embedded default: submit → stages → state, results, provenance."""
from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from services.gateway.provenance import TRAINED_ALGORITHMIC_MEDIA, read_xmp
from services.gateway.schemas import BatchOut, JobOut
from tests.gateway.conftest import png_bytes


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


async def download(api, url: str) -> bytes:
    response = await api.get(url.replace("http://127.0.0.1:8000", ""))
    assert response.status_code == 200, response.text
    return response.content


async def test_multipart_job_runs_two_stages_and_result_carries_provenance(api):
    image = png_bytes(40, 30)
    options = {"steps": [{"stage": "invert"}, {"stage": "invert2", "params": {"sleep_s": 0}}]}
    response = await api.post("/v1/jobs", data={"options": json.dumps(options)},
                              files=[("image", ("photo.png", image, "image/png"))])
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status"] == "queued" and response.headers["location"] == f"/v1/jobs/{created['id']}"
    job = await api.wait_job(created["id"])
    assert job["status"] == "succeeded", job
    assert JobOut.model_validate(job).result.sha256 == job["result"]["sha256"]  # the documented shape
    assert [s["status"] for s in job["steps"]] == ["succeeded", "succeeded"]
    assert all(s["duration_ms"] is not None and s["duration_ms"] >= 0 for s in job["steps"])
    assert job["engines"][0]["licence"] == "MIT (test)" and job["engines"][0]["engine"] == "test"
    result = await download(api, job["result"]["url"])
    assert np.array_equal(pixels(result), pixels(image))  # inverted twice
    xmp = read_xmp(result).decode()
    assert TRAINED_ALGORITHMIC_MEDIA in xmp and job["id"] in xmp and "licence: MIT (test)" in xmp
    first = await download(api, job["steps"][0]["outputs"]["image"]["url"])
    assert np.array_equal(pixels(first), 255 - pixels(image))


async def test_json_job_from_presigned_upload(api):
    upload = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    image = png_bytes(16, 16, seed=3)
    put = await api.put(upload["url"].replace("http://127.0.0.1:8000", ""), content=image,
                        headers=upload["headers"])
    assert put.status_code == 200, put.text
    response = await api.post("/v1/jobs", json={"steps": [{"stage": "invert"}],
                                                "images": [{"upload_id": upload["id"]}]})
    assert response.status_code == 202, response.text
    job = await api.wait_job(response.json()["id"])
    assert job["status"] == "succeeded"
    assert np.array_equal(pixels(await download(api, job["result"]["url"])), 255 - pixels(image))


async def test_batch_makes_one_job_per_image(api):
    files = [("image", (f"p{i}.png", png_bytes(8, 8, seed=i), "image/png")) for i in range(3)]
    response = await api.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "invert"}]})}, files=files)
    assert response.status_code == 202, response.text
    batch = response.json()
    assert batch["object"] == "batch" and len(batch["jobs"]) == 3
    BatchOut.model_validate(batch)
    for job in batch["jobs"]:
        assert job["batch_id"] == batch["batch_id"]
        assert (await api.wait_job(job["id"]))["status"] == "succeeded"
    listed = (await api.get("/v1/jobs", params={"batch_id": batch["batch_id"]})).json()
    assert {j["id"] for j in listed["data"]} == {j["id"] for j in batch["jobs"]}


async def test_failing_stage_fails_the_job_with_its_reason(api):
    response = await api.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "boom"}]})},
                              files=[("image", ("p.png", png_bytes(), "image/png"))])
    job = await api.wait_job(response.json()["id"])
    assert job["status"] == "failed"
    assert job["error"]["stage"] == "boom" and "always fails" in job["error"]["message"]
    assert job["steps"][0]["status"] == "failed"


async def test_corrupt_pixel_data_fails_the_job_at_the_stage_that_decodes_it(api):
    """The gateway reads headers only; the stage that decodes the photo names the damage."""
    from tests.data import bad_input

    response = await api.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "invert"}]})},
                              files=[("image", ("p.jpg", bad_input("truncated.jpg"), "image/jpeg"))])
    assert response.status_code == 202, response.text
    job = await api.wait_job(response.json()["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "unsupported-image", job["error"]
    assert "truncated or corrupt" in job["error"]["message"]


async def test_bad_input_is_refused_and_nothing_is_queued(harness, api):
    def multipart(options, image=None):
        files = [("image", ("x.png", image, "image/png"))] if image is not None else None
        return {"data": {"options": json.dumps(options)}, "files": files}

    bomb = io.BytesIO()
    Image.new("L", (9000, 9000)).save(bomb, "PNG")  # 81 MP, a few hundred bytes compressed
    cases = [
        (multipart({"steps": [{"stage": "nope"}]}, png_bytes()), 422, "invalid-input", "unknown stage"),
        (multipart({"steps": [{"stage": "invert", "params": {"sleep_s": "x"}}]}, png_bytes()), 422, "invalid-input",
         "sleep_s"),
        (multipart({"steps": [{"stage": "invert", "params": {"bogus": 1}}]}, png_bytes()), 422, "invalid-input",
         "bogus"),
        (multipart({"steps": [{"stage": "invert"}]}, b"GIF89a not really"), 415, "unsupported-image", "not a PNG"),
        (multipart({"steps": [{"stage": "invert"}]}, b"%PDF-1.4 pretending.png"), 415, "unsupported-image", "content"),
        (multipart({"steps": [{"stage": "invert"}]}, bomb.getvalue()), 413, "image-too-large", "pixels"),
        (multipart({"steps": [{"stage": "invert"}]}), 422, "invalid-input", "no image"),
        (multipart({"steps": [{"stage": "makeup"}]}, png_bytes()), 422, "invalid-input", "exactly one makeup source"),
        (multipart({"steps": [{"stage": "makeup", "params": {"look": "natural"}, "inputs": {"reference": {
            "key": "tenants/x/ref.png"}}}]}, png_bytes()), 422, "invalid-input", "not both"),
        (multipart({"steps": [{"stage": "makeup", "params": {"look": "natural", "intensity": 1.5}}]}, png_bytes()),
         422, "invalid-input", "intensity"),
        ({"content": b"", "headers": {"content-type": "application/json"}}, 422, "invalid-input", "empty"),
        ({"json": {"steps": []}}, 422, "invalid-input", "steps"),
        ({"content": b"\x89PNG", "headers": {"content-type": "image/png"}}, 415, "unsupported-image", "multipart"),
    ]
    for kwargs, status, code, words in cases:
        response = await api.post("/v1/jobs", **kwargs)
        assert response.status_code == status, (kwargs, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["type"] == f"https://facecast.dev/problems/{code}" and body["status"] == status
        assert words.lower() in body["detail"].lower(), body
    assert (await api.get("/v1/jobs")).json()["data"] == []
    from sqlalchemy import func, select

    from services.gateway.db.models import Job
    from shared.events import requests_topic

    async with harness.gw.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == 0
    assert harness.gw.bus.messages(requests_topic("invert")) == []


async def test_engines_list_licences(api):
    engines = (await api.get("/v1/engines")).json()["data"]
    test_engines = [e for e in engines if e["stage"] == "invert"]
    assert test_engines and test_engines[0]["licence"] == "MIT (test)" and test_engines[0]["available"]


async def test_serve_adopts_the_bootstrap_key_or_makes_a_local_one(harness):
    from services.gateway.embedded import local_key

    chosen = "fck_0123456789abcdef0123456789ab_" + "c" * 64
    adopted = harness.settings.model_copy(update={"bootstrap_api_key": chosen})
    assert await local_key(harness.gw, adopted) == (chosen, False)
    assert await local_key(harness.gw, adopted) == (chosen, False)  # a restart keeps the same tenant
    anonymous = harness.anonymous()
    tenant = await anonymous.get("/v1/tenant", headers={"Authorization": f"Bearer {chosen}"})
    assert tenant.status_code == 200 and tenant.json()["name"] == "local"
    fresh, created = await local_key(harness.gw, harness.settings)
    assert created and fresh != chosen
    again = await local_key(harness.gw, harness.settings)  # the next start: the same key, the same tenant
    assert again == (fresh, False)
    same = [(await anonymous.get("/v1/tenant", headers={"Authorization": f"Bearer {key}"})).json()["id"]
            for key in (chosen, fresh)]
    assert len(set(same)) == 1
