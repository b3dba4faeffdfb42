"""Issue 14 item 4: a rejected request leaves no stored object behind, and the sweeper removes objects no row
refers to once they are past a grace period."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from shared.ids import utcnow
from tests.security.conftest import INVERT, object_files, photo, png_bytes


def inputs(root) -> list[str]:
    return [key for key in object_files(root) if "/jobs/" in key or "/uploads/" in key]


async def test_a_batch_refused_for_one_bad_file_leaves_nothing(api, harness):
    files = [("image", (f"ok-{i}.png", png_bytes(seed=i), "image/png")) for i in range(4)]
    files.append(("image", ("bad.png", b"GIF89a not accepted", "image/png")))
    answer = await api.post("/v1/jobs", data=INVERT, files=files)
    assert answer.status_code == 415, answer.text
    assert inputs(harness.settings.data_dir / "objects") == []


async def test_a_request_over_the_quota_leaves_nothing(harness):
    api = await harness.tenant("small", max_active_jobs=1)
    slow = {"options": json.dumps({"steps": [{"stage": "invert", "params": {"sleep_s": 0.5}}]})}
    first = await api.post("/v1/jobs", data=slow, files=photo(1))
    assert first.status_code == 202
    stored = inputs(harness.settings.data_dir / "objects")
    refused = await api.post("/v1/jobs", data=INVERT, files=photo(2) + photo(3))
    assert refused.status_code == 429, refused.text
    assert inputs(harness.settings.data_dir / "objects") == stored


async def test_the_losing_request_of_an_idempotency_race_leaves_nothing(api, harness):
    headers = {"Idempotency-Key": "race-1"}
    answers = await asyncio.gather(*(api.post("/v1/jobs", data=INVERT, files=photo(7) + photo(8), headers=headers)
                                     for _ in range(4)))
    assert {a.status_code for a in answers} == {202}
    winners = {tuple(j["id"] for j in a.json()["jobs"]) for a in answers}
    assert len(winners) == 1
    for job_id in next(iter(winners)):
        await api.wait_job(job_id)
    stored_inputs = [k for k in inputs(harness.settings.data_dir / "objects") if k.endswith("0-input.png")]
    assert sorted(k.split("/")[3] for k in stored_inputs) == sorted(next(iter(winners)))


async def test_the_sweeper_removes_orphans_after_the_grace_period(api, harness):
    store = harness.gw.store
    job = (await api.post("/v1/jobs", data=INVERT, files=photo(1))).json()
    await api.wait_job(job["id"])
    upload = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    await harness.anonymous().put(upload["url"], content=png_bytes(seed=2), headers=upload["headers"])
    tenant = api.tenant_id
    orphans = [f"tenants/{tenant}/jobs/job_neverwritten/0-input.png",  # a crash between store and INSERT
               f"tenants/{tenant}/uploads/upl_norow.png", f"tenants/{tenant}/models/vm_gone/portrait.png",
               f"tenants/{tenant}/categories/elegant/cex_gone.npy", "tenants/ten_unknown/jobs/job_x/0-input.png"]
    for key in orphans:
        store.put(key, png_bytes(), "image/png")
    kept_layout = f"tenants/{tenant}/something-else/file.png"  # a layout the sweeper does not know: left alone
    store.put(kept_layout, png_bytes(), "image/png")
    before = set(object_files(harness.settings.data_dir / "objects"))

    within_grace = await harness.gw.sweeper.sweep_once(now=utcnow())
    assert within_grace["orphans"] == 0 and set(object_files(harness.settings.data_dir / "objects")) == before

    later = utcnow() + timedelta(seconds=harness.settings.orphan_grace_s + 60)
    swept = await harness.gw.sweeper.sweep_once(now=later)
    assert swept["orphans"] == len(orphans)
    after = set(object_files(harness.settings.data_dir / "objects"))
    assert after == before - set(orphans)
    assert store.exists(upload["key"]) and store.exists(kept_layout)
    assert any(k.startswith(f"tenants/{tenant}/jobs/{job['id']}/") for k in after)
    assert (await api.get(f"/v1/jobs/{job['id']}")).json()["purged"] is False
