"""A virtual model's source is prepared once, at import, by the swapper's `prepare` step (issue 13, issue 15 §2):
it is stored with the model, a swap reads it in place of the portrait, a model made before prepared sources
existed still swaps from its portrait (prepared on the fly), and the step's internal job is nobody's job."""
from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image
from skimage import data as skdata
from sqlalchemy import select, update

from services.gateway.db.models import INTERNAL_JOB, Job, VirtualModel
from tests.gateway.test_real_stages import encoded, import_model


async def test_a_swap_reads_the_prepared_source_and_an_older_model_its_portrait(make_harness):
    harness = await make_harness(stages=["swapper"])
    api = await harness.tenant()
    model = await import_model(api, skdata.astronaut())
    assert model.status_code == 201, model.text
    model_id = model.json()["id"]
    prefix = f"tenants/{api.tenant_id}/models/{model_id}/"
    assert sorted(harness.gw.store.list_keys(prefix)) == [f"{prefix}portrait.png", f"{prefix}source.npz"]
    async with harness.gw.sessionmaker() as session:
        row = await session.get(VirtualModel, model_id)
        internal = (await session.scalars(select(Job).where(Job.kind == INTERNAL_JOB))).all()
    assert row.prepared_source["key"] == f"{prefix}source.npz" and len(row.embedding) == 128
    assert [(job.status, job.steps[0]["action"]) for job in internal] == [("succeeded", "prepare")]
    assert (await api.get("/v1/jobs")).json()["data"] == []  # the prepare step is no job of the shop's
    assert (await api.get(f"/v1/jobs/{internal[0].id}")).status_code == 404

    target = encoded(np.asarray(Image.fromarray(skdata.astronaut()[:, ::-1]).resize((320, 320))), "PNG")

    async def swap() -> dict:
        response = await api.post("/v1/jobs", files=[("image", ("t.png", target, "image/png"))], data={
            "options": json.dumps({"virtual_model_id": model_id, "steps": [{"stage": "swap"}]})})
        assert response.status_code == 202, response.text
        job = await api.wait_job(response.json()["id"], timeout_s=240)
        assert job["status"] == "succeeded", job["error"]
        async with harness.gw.sessionmaker() as session:
            source = (await session.get(Job, job["id"])).steps[0]["inputs"]["source"]
        result = (await api.get(job["result"]["url"].replace("http://127.0.0.1:8000", ""))).content
        return {"job": job, "source": source, "pixels": np.asarray(Image.open(io.BytesIO(result)))}

    prepared = await swap()
    assert prepared["source"]["key"] == f"{prefix}source.npz"
    assert prepared["source"]["content_type"] == "application/x-npz"
    assert prepared["source"]["origin"]["virtual_model_id"] == model_id
    async with harness.gw.sessionmaker() as session, session.begin():  # as a model made before this step existed
        await session.execute(update(VirtualModel).where(VirtualModel.id == model_id).values(prepared_source=None))
    older = await swap()
    assert older["source"]["key"] == f"{prefix}portrait.png"
    assert np.array_equal(older["pixels"], prepared["pixels"])  # the same swap either way (XMP aside)
    assert not np.array_equal(prepared["pixels"], np.asarray(Image.open(io.BytesIO(target))))
    assert len((await api.get("/v1/jobs")).json()["data"]) == 2
