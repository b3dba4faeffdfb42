"""Issue 14 item 3: cancelling or deleting one job does not destroy an upload other jobs use; an upload lives
until its own deletion (or retention)."""
from __future__ import annotations

from tests.security.conftest import png_bytes


def job_on(upload_id: str, sleep_s: float = 0.0) -> dict:
    return {"steps": [{"stage": "invert", "params": {"sleep_s": sleep_s}}], "images": [{"upload_id": upload_id}]}


async def test_cancel_and_delete_leave_a_shared_upload_alone(api, harness):
    upload = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    put = await harness.anonymous().put(upload["url"], content=png_bytes(seed=4), headers=upload["headers"])
    assert put.status_code == 200
    slow = (await api.post("/v1/jobs", json=job_on(upload["id"], sleep_s=0.5))).json()
    other = (await api.post("/v1/jobs", json=job_on(upload["id"]))).json()
    canceled = await api.post(f"/v1/jobs/{slow['id']}:cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert (await api.wait_job(other["id"]))["status"] == "succeeded"
    assert harness.gw.store.exists(upload["key"])
    # deleting a finished job that used it leaves it too
    assert (await api.delete(f"/v1/jobs/{other['id']}")).status_code == 204
    assert harness.gw.store.exists(upload["key"])
    later = (await api.post("/v1/jobs", json=job_on(upload["id"]))).json()
    assert (await api.wait_job(later["id"]))["status"] == "succeeded"
    # its own deletion removes it
    assert (await api.delete(f"/v1/uploads/{upload['id']}")).status_code == 204
    assert not harness.gw.store.exists(upload["key"])
    gone = await api.post("/v1/jobs", json=job_on(upload["id"]))
    assert gone.status_code == 404 and upload["id"] in gone.json()["detail"]
    assert (await api.delete(f"/v1/uploads/{upload['id']}")).status_code == 404


async def test_an_upload_cannot_be_deleted_by_another_tenant(api, harness):
    upload = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    await harness.anonymous().put(upload["url"], content=png_bytes(seed=5), headers=upload["headers"])
    other = await harness.tenant("other")
    assert (await other.delete(f"/v1/uploads/{upload['id']}")).status_code == 404
    assert harness.gw.store.exists(upload["key"])
