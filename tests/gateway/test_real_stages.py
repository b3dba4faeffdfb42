"""The product path with the real stages on the embedded default: a portrait imported with consent
becomes the virtual model; a photo goes swap → enhance → makeup; the result names every engine and
licence and carries provenance."""
from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image
from skimage import data as skdata

from services.gateway.provenance import TRAINED_ALGORITHMIC_MEDIA, read_xmp

CONSENT = {"subject_name": "Eileen Collins", "rights_holder": "NASA (public domain)", "consent_obtained": True,
           "commercial_use_permitted": True, "evidence_reference": "NASA S95-00713"}


def encoded(pixels, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


async def import_model(api, rgb: np.ndarray, name: str = "Eileen"):
    """The response of importing `rgb` (RGB pixels) as a virtual model with consent, through an upload."""
    upload = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    await api.put(upload["url"].replace("http://127.0.0.1:8000", ""), content=encoded(rgb, "PNG"),
                  headers=upload["headers"])
    return await api.post("/v1/virtual-models:import", json={"name": name, "consent": CONSENT,
                                                             "image": {"upload_id": upload["id"]}})


async def test_swap_enhance_makeup_with_the_real_stages(make_harness):
    harness = await make_harness(stages=["swapper", "enhancer", "makeup"])
    api = await harness.tenant()
    model = await import_model(api, skdata.astronaut())
    assert model.status_code == 201, model.text
    assert len(model.json()["portrait"]["sha256"]) == 64
    target = Image.fromarray(skdata.astronaut()[:, ::-1]).resize((320, 320))
    options = {"virtual_model_id": model.json()["id"],
               "steps": [{"stage": "swap"}, {"stage": "enhance"}, {"stage": "makeup", "params": {"look": "natural"}}]}
    response = await api.post("/v1/jobs", data={"options": json.dumps(options)},
                              files=[("image", ("t.jpg", encoded(__import__("numpy").asarray(target), "JPEG"),
                                                "image/jpeg"))])
    assert response.status_code == 202, response.text
    job = await api.wait_job(response.json()["id"], timeout_s=240)
    assert job["status"] == "succeeded", job["error"]
    assert [(e["stage"], bool(e["licence"])) for e in job["engines"]] == [
        ("identity", True), ("swapper", True), ("enhancer", True), ("makeup", True)]
    identity = job["engines"][0]  # the face's own origin travels into every result that shows it
    assert identity["engine"] == "import" and identity["virtual_model_id"] == model.json()["id"]
    assert identity["commercial_use"] is True and "rights attested" in identity["licence"]
    assert job["steps"][0]["params"] == {} and job["steps"][2]["params"] == {"look": "natural"}
    result = (await api.get(job["result"]["url"].replace("http://127.0.0.1:8000", ""))).content
    assert Image.open(io.BytesIO(result)).format == "JPEG"
    xmp = read_xmp(result).decode()
    assert TRAINED_ALGORITHMIC_MEDIA in xmp and all(e["engine"] in xmp for e in job["engines"])


async def test_swap_without_a_virtual_model_is_refused(make_harness):
    harness = await make_harness(stages=[])
    api = await harness.tenant()
    response = await api.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "swap"}]})},
                              files=[("image", ("t.png", encoded(skdata.astronaut(), "PNG"), "image/png"))])
    assert response.status_code == 422 and "virtual_model_id" in response.json()["detail"]
    bad = await api.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "enhance", "params": {
        "engine": "nope"}}]})}, files=[("image", ("t.png", encoded(skdata.astronaut(), "PNG"), "image/png"))])
    assert bad.status_code == 422 and "engine" in bad.json()["detail"]


async def test_a_face_cut_by_the_frame_is_left_alone_and_the_job_says_so(make_harness):
    """Issue 13: a shop photo cut above the nose keeps its face; the job succeeds with the reason."""
    from tests.data.realism.make_variants import SPECS, build

    spec = next(s for s in SPECS if s.kind == "cut")
    pair = build(spec)
    harness = await make_harness(stages=["swapper"])
    api = await harness.tenant()
    model = await import_model(api, pair.source[:, :, ::-1], name="Model")
    assert model.status_code == 201, model.text
    options = {"virtual_model_id": model.json()["id"], "steps": [{"stage": "swap"}]}
    response = await api.post("/v1/jobs", data={"options": json.dumps(options)},
                              files=[("image", ("cut.png", encoded(pair.target[:, :, ::-1], "PNG"), "image/png"))])
    assert response.status_code == 202, response.text
    job = await api.wait_job(response.json()["id"], timeout_s=240)
    assert job["status"] == "succeeded", job["error"]
    assert [(w["code"], w["stage"]) for w in job["warnings"]] == [("face-cut-by-frame", "swapper")]
    result = (await api.get(job["result"]["url"].replace("http://127.0.0.1:8000", ""))).content
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(result)).convert("RGB")), pair.target[:, :, ::-1])
