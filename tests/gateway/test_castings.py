"""Castings → candidates → virtual models; imports need a consent attestation; categories by example."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest
from skimage import data as skdata

from services.gateway.domain.castings import tenant_category_name
from tests.gateway.conftest import TEST_STAGES

STAGES = {**TEST_STAGES, "generator": "tests.gateway.stages:FAKE_GENERATOR"}


@pytest.fixture
async def cast_api(make_harness):
    # the swapper prepares a virtual model's source when a candidate is accepted or a portrait imported
    harness = await make_harness(stages=["generator", "invert", "swapper"], extra_stages=STAGES)
    return await harness.tenant()


async def wait_casting(api, casting_id: str) -> dict:
    for _ in range(400):
        casting = (await api.get(f"/v1/castings/{casting_id}")).json()
        if casting["status"] in ("succeeded", "failed"):
            return casting
        await asyncio.sleep(0.05)
    raise AssertionError("casting did not finish")


async def cast(api, **body) -> dict:
    response = await api.post("/v1/castings", json={"engine": "demo", **body})
    assert response.status_code == 202, response.text
    return await wait_casting(api, response.json()["id"])


async def test_casting_accept_rename_delete(cast_api):
    api = cast_api
    casting = await cast(api, n=3, seed=7)
    assert casting["status"] == "succeeded" and [c["seed"] for c in casting["candidates"]] == [7, 8, 9]
    assert casting["engines"][0]["demo"] and not casting["engines"][0]["commercial_use"]
    model = await api.post("/v1/virtual-models", json={"casting_id": casting["id"], "candidate": 1, "name": "Mina"})
    assert model.status_code == 201, model.text
    model = model.json()
    assert model["seed"] == 8 and model["engine"] == "demo" and model["engine_info"]["demo"] is True
    assert model["portrait"]["key"].startswith(f"tenants/{api.tenant_id}/models/{model['id']}/")
    assert model["portrait"]["sha256"] == casting["candidates"][1]["image"]["sha256"]
    renamed = await api.patch(f"/v1/virtual-models/{model['id']}", json={"name": "Mina S/S"})
    assert renamed.json()["name"] == "Mina S/S"
    near = await cast(api, n=2, near=[model["id"], f"{casting['id']}/0"], mix=0.5)
    assert near["status"] == "succeeded"
    assert (await api.delete(f"/v1/virtual-models/{model['id']}")).status_code == 204
    assert (await api.get(f"/v1/virtual-models/{model['id']}")).status_code == 404
    portrait_url = model["portrait"]["url"].replace("http://127.0.0.1:8000", "")
    assert (await api.get(portrait_url)).status_code == 404  # its objects went with it


async def test_a_candidate_without_a_detectable_face_cannot_become_a_virtual_model(cast_api, monkeypatch):
    import tests.gateway.stages as fake

    monkeypatch.setattr(fake, "PORTRAIT", np.full_like(fake.PORTRAIT, 128))  # a flat grey "portrait"
    casting = await cast(cast_api, n=1, seed=3)
    refused = await cast_api.post("/v1/virtual-models", json={"casting_id": casting["id"], "candidate": 0,
                                                             "name": "Nobody"})
    assert refused.status_code == 422 and refused.json()["code"] == "no-face-found"
    assert "candidate 0" in refused.json()["detail"]
    assert (await cast_api.get("/v1/virtual-models")).json()["data"] == []


async def test_swap_step_takes_the_virtual_model_portrait(cast_api):
    api = cast_api
    casting = await cast(api, n=1, seed=1)
    model = (await api.post("/v1/virtual-models", json={"casting_id": casting["id"], "candidate": 0,
                                                       "name": "A"})).json()
    missing = await api.post("/v1/castings", json={"engine": "demo", "n": 1, "near": ["vm_nope"]})
    assert missing.status_code == 404
    job = await api.post("/v1/jobs", json={"steps": [{"stage": "invert", "inputs": {"source": {
        "virtual_model_id": model["id"]}}}], "images": [{"key": model["portrait"]["key"]}]})
    assert job.status_code == 422 and "takes no input named 'source'" in job.json()["detail"]


async def test_bad_casting_requests(cast_api):
    api = cast_api
    for body, words in [({"engine": "nope", "n": 1}, "engine"), ({"engine": "demo", "n": 0}, "n"),
                        ({"engine": "demo", "n": 2, "category": "no-such-category"}, "no-such-category"),
                        ({"engine": "demo", "n": 1, "mix": 0.5}, "mix"),
                        ({"engine": "demo", "n": 1, "brief": "zzzz qqqq"}, "brief")]:
        response = await api.post("/v1/castings", json=body)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert words in response.text, (body, response.text)


async def test_import_requires_consent_and_a_face(cast_api):
    api = cast_api
    import io

    from PIL import Image

    face = io.BytesIO()
    Image.fromarray(skdata.astronaut()).save(face, "PNG")
    upload = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    put = await api.put(upload["url"].replace("http://127.0.0.1:8000", ""), content=face.getvalue(),
                        headers=upload["headers"])
    assert put.status_code == 200
    no_consent = await api.post("/v1/virtual-models:import", json={"name": "Eileen",
                                                                  "image": {"upload_id": upload["id"]}})
    assert no_consent.status_code == 422 and "consent" in no_consent.text
    consent = {"subject_name": "Eileen Collins", "rights_holder": "NASA (public domain)", "consent_obtained": True,
               "commercial_use_permitted": True, "evidence_reference": "NASA photo S95-00713"}
    imported = await api.post("/v1/virtual-models:import", json={"name": "Eileen", "consent": consent,
                                                                "image": {"upload_id": upload["id"]}})
    assert imported.status_code == 201, imported.text
    model = imported.json()
    assert model["source"] == "import" and model["consent"]["evidence_reference"] == "NASA photo S95-00713"
    noise = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    blank = io.BytesIO()
    Image.new("RGB", (128, 128), (200, 200, 200)).save(blank, "PNG")
    await api.put(noise["url"].replace("http://127.0.0.1:8000", ""), content=blank.getvalue(), headers=noise["headers"])
    faceless = await api.post("/v1/virtual-models:import", json={"name": "x", "consent": consent,
                                                                "image": {"upload_id": noise["id"]}})
    assert faceless.status_code == 422 and faceless.json()["code"] == "no-face-found"


async def test_teach_a_category_by_example_then_cast_with_it(cast_api):
    api = cast_api
    casting = await cast(api, n=24, seed=100)
    latents = []
    for candidate in casting["candidates"]:
        raw = (await api.get(candidate["latent"]["url"].replace("http://127.0.0.1:8000", ""))).content
        latents.append(np.load(__import__("io").BytesIO(raw)))
    scores = [float(v[0]) for v in latents]  # the label: "fits" when the first latent value is high
    order = np.argsort(scores)
    too_few = await api.post("/v1/categories/fresh:fit", json={"engine": "demo"})
    assert too_few.status_code == 404
    for rank, index in enumerate(order):
        response = await api.post("/v1/categories/fresh/examples", json={
            "casting_id": casting["id"], "candidate": int(index), "fits": bool(rank >= 12)})
        assert response.status_code == 201, response.text
    assert response.json()["counts"] == {"fits": 12, "does_not_fit": 12}
    fitted = await api.post("/v1/categories/fresh:fit", json={"engine": "demo"})
    assert fitted.status_code == 200, fitted.text
    assert fitted.json()["report"]["training_accuracy"] >= 0.9
    listed = (await api.get("/v1/categories")).json()["data"]
    assert [(c["label"], c["engine"]) for c in listed if c["source"] == "tenant"] == [("fresh", "demo")]
    assert {c["label"] for c in listed if c["source"] == "seed"} == {"elegant", "innocent", "alluring", "graceful",
                                                                      "fresh"}  # the diffusion engine's words
    steered = await api.post("/v1/castings", json={"engine": "demo", "n": 2, "category": "fresh", "strength": 2})
    assert steered.status_code == 202, steered.text
    steered = await wait_casting(api, steered.json()["id"])
    assert steered["status"] == "succeeded"
    from services.gateway.db.models import Job

    harness_gw = api.client._transport.app.state.gateway
    async with harness_gw.sessionmaker() as session:
        job = await session.get(Job, steered["job_id"])
    assert job.steps[0]["params"]["category"] == tenant_category_name(api.tenant_id, "fresh")


async def test_casting_ready_webhook_lists_candidate_urls(make_harness):
    from tests.gateway.receiver import Receiver, verify_standard_webhook

    harness = await make_harness(stages=["generator"], extra_stages=STAGES, allow_http_urls=True,
                                 netguard_allow_networks=["127.0.0.1/32"])
    api = await harness.tenant()
    with Receiver() as receiver:
        endpoint = (await api.post("/v1/webhook-endpoints", json={"url": receiver.url,
                                                                 "event_types": ["casting.ready"]})).json()
        casting = await cast(api, n=2, seed=3)
        for _ in range(200):
            if receiver.accepted():
                break
            await asyncio.sleep(0.05)
        request = receiver.accepted()[0]
        assert verify_standard_webhook(endpoint["secret"], request["headers"], request["body"])
        body = __import__("json").loads(request["body"])
        assert body["type"] == "casting.ready" and body["data"]["id"] == casting["id"]
        assert [c["seed"] for c in body["data"]["candidates"]] == [3, 4]
        assert all(c["url"].startswith("http") for c in body["data"]["candidates"])


async def test_a_failed_accept_leaves_no_portrait_or_latent(cast_api, monkeypatch):
    """The database refusing the row (as PostgreSQL refused a seed too wide for INTEGER) writes no object;
    a write that fails half way removes what it wrote; neither leaves a row."""
    from sqlalchemy import event

    from services.gateway.db.models import VirtualModel

    api = cast_api
    store = api.client._transport.app.state.gateway.store
    casting = await cast(api, n=2, seed=11)
    prefix = f"tenants/{api.tenant_id}/models/"

    def refuse(*_):
        raise RuntimeError("value out of int32 range")

    event.listen(VirtualModel, "before_insert", refuse)
    try:
        refused = await api.post("/v1/virtual-models", json={"casting_id": casting["id"], "candidate": 0, "name": "A"})
    finally:
        event.remove(VirtualModel, "before_insert", refuse)
    assert refused.status_code == 500
    assert store.list_keys(prefix) == []

    real_put = type(store).put

    def put_fails_on_the_latent(self, key, *args, **kw):
        if key.endswith("latent.npy"):
            raise OSError("connection reset by the S3 server")
        return real_put(self, key, *args, **kw)

    monkeypatch.setattr(type(store), "put", put_fails_on_the_latent)
    half = await api.post("/v1/virtual-models", json={"casting_id": casting["id"], "candidate": 1, "name": "B"})
    assert half.status_code >= 500
    assert store.list_keys(prefix) == []
    monkeypatch.setattr(type(store), "put", real_put)
    assert (await api.get("/v1/virtual-models")).json()["data"] == []

    accepted = await api.post("/v1/virtual-models", json={"casting_id": casting["id"], "candidate": 1, "name": "B"})
    assert accepted.status_code == 201, accepted.text
    model = accepted.json()
    assert sorted(store.list_keys(prefix)) == [f"{prefix}{model['id']}/latent.npy", f"{prefix}{model['id']}/portrait.png",
                                               f"{prefix}{model['id']}/source.npz"]  # the prepared source (issue 13)
    assert store.head(model["portrait"]["key"]).sha256 == model["portrait"]["sha256"]


@pytest.mark.parametrize("variant, code", [("cut", "invalid-input"), ("small", "face-too-small"),
                                           ("glasses", "source-covered")])
async def test_an_import_the_swapper_would_refuse_at_every_job_is_refused_at_import(cast_api, variant, code):
    """Issue 13: a portrait that cannot make a clean source is refused at import with the reason. A face cut by
    the border, or narrower than the swapper's source minimum, used to be imported (201) and then failed
    every swap job (`invalid-input` / `face-too-small`). A portrait wearing glasses has its own code, and the
    swapper's `details.reason` is kept."""
    import io

    import cv2
    from PIL import Image

    from tests.data.realism import photo

    api = cast_api
    if variant == "glasses":
        pixels = cv2.cvtColor(photo("clyburn"), cv2.COLOR_BGR2RGB)  # a development-set portrait with glasses
    elif variant == "cut":
        pixels = skdata.astronaut()[:, 230:]
    else:
        pixels = cv2.resize(skdata.astronaut(), (224, 224), interpolation=cv2.INTER_AREA)
    body = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(body, "PNG")
    upload = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    await api.put(upload["url"].replace("http://127.0.0.1:8000", ""), content=body.getvalue(), headers=upload["headers"])
    consent = {"subject_name": "Eileen Collins", "rights_holder": "NASA (public domain)", "consent_obtained": True,
               "commercial_use_permitted": True, "evidence_reference": "NASA photo S95-00713"}
    refused = await api.post("/v1/virtual-models:import", json={"name": "x", "consent": consent,
                                                               "image": {"upload_id": upload["id"]}})
    assert refused.status_code == 422 and refused.json()["code"] == code, refused.text
    expected = {"cut": "cut by the image border", "small": "at least 64 px", "glasses": "glasses"}[variant]
    assert expected in refused.json()["detail"]
    if variant == "glasses":
        assert refused.json()["details"] == {"role": "source", "reason": "source-covered"}
    assert (await api.get("/v1/virtual-models")).json()["data"] == []
