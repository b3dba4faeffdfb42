"""Review of issue 14: deleting a virtual model while queued or running jobs use it answers 409 naming them
(the jobs would fail `not-found … portrait`); once they finish it is deleted."""
from __future__ import annotations

import time

from services.gateway.db.models import VirtualModel
from shared.ids import new_id
from shared.stage import StageDefinition, StageOutput
from tests.backbone.stages import TEST_ENGINE, InvertParams
from tests.gateway.conftest import TEST_STAGES
from tests.security.conftest import png_bytes


def face_in(params: InvertParams, inputs, ctx) -> StageOutput:
    """A stand-in swap: waits, then needs its `source` (the model's portrait) like the swapper does."""
    time.sleep(params.sleep_s)
    assert inputs.extras["source"].pixels is not None
    return StageOutput(image=inputs.image.pixels, report=TEST_ENGINE["test"].public())


FACE_IN = StageDefinition(name="facein", params_model=InvertParams, run=face_in, engines=TEST_ENGINE,
                          extra_inputs=("source",))
STAGES = {**TEST_STAGES, "facein": f"{__name__}:FACE_IN"}


async def a_model(harness, tenant_id: str) -> str:
    model_id = new_id("vm")
    ref = harness.gw.store.put(f"tenants/{tenant_id}/models/{model_id}/portrait.png", png_bytes(seed=3), "image/png")
    async with harness.gw.sessionmaker() as session, session.begin():
        session.add(VirtualModel(id=model_id, tenant_id=tenant_id, name="Mina", source="import",
                                 portrait=ref.model_dump()))
    return model_id


async def test_a_model_in_use_is_kept_with_409_naming_its_jobs(make_harness):
    harness = await make_harness(stages=["invert", "facein"], extra_stages=STAGES)
    api = await harness.tenant()
    model_id = await a_model(harness, api.tenant_id)
    submitted = await api.post("/v1/jobs", files=[("image", ("p.png", png_bytes(), "image/png"))], data={
        "options": '{"virtual_model_id": "%s", "steps": [{"stage": "facein", "params": {"sleep_s": 0.6}}]}' % model_id})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    refused = await api.delete(f"/v1/virtual-models/{model_id}")
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["code"] == "conflict" and job_id in body["detail"] and "1 queued or running job" in body["detail"]
    assert body["details"]["jobs"] == [job_id] and body["details"]["count"] == 1
    assert (await api.get(f"/v1/virtual-models/{model_id}")).status_code == 200
    job = await api.wait_job(job_id)
    assert job["status"] == "succeeded", job
    assert (await api.delete(f"/v1/virtual-models/{model_id}")).status_code == 204
    assert harness.gw.store.list_keys(f"tenants/{api.tenant_id}/models/{model_id}/") == []


async def test_another_models_jobs_do_not_hold_it(make_harness):
    harness = await make_harness(stages=["invert", "facein"], extra_stages=STAGES)
    api = await harness.tenant()
    busy, idle = await a_model(harness, api.tenant_id), await a_model(harness, api.tenant_id)
    submitted = await api.post("/v1/jobs", files=[("image", ("p.png", png_bytes(), "image/png"))], data={
        "options": '{"virtual_model_id": "%s", "steps": [{"stage": "facein", "params": {"sleep_s": 0.5}}]}' % busy})
    assert (await api.delete(f"/v1/virtual-models/{idle}")).status_code == 204
    assert (await api.wait_job(submitted.json()["id"]))["status"] == "succeeded"
