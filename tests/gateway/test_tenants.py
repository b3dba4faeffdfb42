"""Keys, scopes, rate limits, quotas, and tenant isolation on every endpoint (another tenant's
resources are 404, never 403)."""
from __future__ import annotations

import asyncio
import json

from tests.gateway.conftest import png_bytes
from tests.gateway.test_castings import STAGES, cast


async def test_missing_bad_and_revoked_keys(harness, api):
    anonymous = harness.anonymous()
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer fck_abc_" + "0" * 64}):
        response = await anonymous.get("/v1/jobs", headers=headers)
        assert response.status_code == 401 and response.json()["type"].endswith("/unauthorized"), response.text
    created = await api.post("/v1/api-keys", json={"name": "plugin", "scopes": ["read"]})
    assert created.status_code == 201
    token = created.json()["key"]
    reader = {"Authorization": f"Bearer {token}"}
    assert (await anonymous.get("/v1/jobs", headers=reader)).status_code == 200
    forbidden = await anonymous.post("/v1/uploads", json={"content_type": "image/png"}, headers=reader)
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "insufficient-scope"
    keys = (await api.get("/v1/api-keys")).json()["data"]
    assert all(k["key"] is None for k in keys) and {k["name"] for k in keys} == {"initial", "plugin"}
    assert (await api.delete(f"/v1/api-keys/{created.json()['id']}")).status_code == 204
    revoked = await anonymous.get("/v1/jobs", headers=reader)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]


async def test_writer_cannot_manage_keys(harness):
    writer = await harness.tenant("w", scopes=["write"])
    assert (await writer.get("/v1/jobs")).status_code == 200
    assert (await writer.get("/v1/api-keys")).status_code == 403
    assert (await writer.patch("/v1/tenant", json={"retention_days": 3})).status_code == 403


async def test_rate_limit_answers_429_with_retry_after(make_harness):
    harness = await make_harness(rate_limit_per_s=2, rate_limit_burst=3)
    api = await harness.tenant()
    statuses = [(await api.get("/v1/jobs")).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
    limited = await api.get("/v1/jobs")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    other = await harness.tenant("other")  # another tenant has its own bucket
    assert (await other.get("/v1/jobs")).status_code == 200


async def test_active_job_quota(make_harness):
    harness = await make_harness(max_active_jobs=2)
    api = await harness.tenant()
    options = {"options": json.dumps({"steps": [{"stage": "invert", "params": {"sleep_s": 0.5}}]})}
    statuses = []
    for _ in range(3):
        response = await api.post("/v1/jobs", data=options, files=[("image", ("p.png", png_bytes(), "image/png"))])
        statuses.append(response.status_code)
    assert statuses == [202, 202, 429]
    assert response.headers["retry-after"] and "2 at once" in response.json()["detail"]


async def test_two_tenants_cannot_see_each_others_resources(make_harness):
    harness = await make_harness(stages=["generator", "invert", "swapper"], extra_stages=STAGES, allow_http_urls=True,
                                 netguard_allow_networks=["127.0.0.1/32"])
    alice, bob = await harness.tenant("alice"), await harness.tenant("bob")
    # Alice's resources: a job, an upload, a casting, a virtual model, a webhook endpoint with a delivery.
    from tests.gateway.receiver import Receiver

    with Receiver() as receiver:
        endpoint = (await alice.post("/v1/webhook-endpoints", json={"url": receiver.url})).json()
        job = (await alice.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "invert"}]})},
                                files=[("image", ("p.png", png_bytes(), "image/png"))])).json()
        job = await alice.wait_job(job["id"])
        for _ in range(100):
            deliveries = (await alice.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries")).json()["data"]
            if deliveries and deliveries[0]["status"] == "succeeded":
                break
            await asyncio.sleep(0.05)
    upload = (await alice.post("/v1/uploads", json={"content_type": "image/png"})).json()
    casting = await cast(alice, n=2, seed=1)
    model = (await alice.post("/v1/virtual-models", json={"casting_id": casting["id"], "candidate": 0,
                                                         "name": "A"})).json()
    delivery = deliveries[0]

    probes = [
        ("GET", f"/v1/jobs/{job['id']}", None), ("POST", f"/v1/jobs/{job['id']}:cancel", None),
        ("GET", f"/v1/jobs/{job['id']}/events", None), ("DELETE", f"/v1/jobs/{job['id']}", None),
        ("GET", f"/v1/uploads/{upload['id']}", None),
        ("GET", f"/v1/castings/{casting['id']}", None),
        ("POST", "/v1/virtual-models", {"casting_id": casting["id"], "candidate": 0, "name": "stolen"}),
        ("GET", f"/v1/virtual-models/{model['id']}", None),
        ("PATCH", f"/v1/virtual-models/{model['id']}", {"name": "x"}),
        ("DELETE", f"/v1/virtual-models/{model['id']}", None),
        ("POST", "/v1/castings", {"engine": "demo", "n": 1, "near": [model["id"]]}),
        ("POST", "/v1/castings", {"engine": "demo", "n": 1, "near": [f"{casting['id']}/0"]}),
        ("POST", "/v1/categories/fresh/examples", {"casting_id": casting["id"], "candidate": 0, "fits": True}),
        ("GET", f"/v1/webhook-endpoints/{endpoint['id']}", None),
        ("GET", f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", None),
        ("POST", f"/v1/webhook-endpoints/{endpoint['id']}:rotate-secret", None),
        ("POST", f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{delivery['id']}:redeliver", None),
        ("DELETE", f"/v1/webhook-endpoints/{endpoint['id']}", None),
        ("POST", "/v1/jobs", {"steps": [{"stage": "invert"}], "images": [{"upload_id": upload["id"]}]}),
        ("POST", "/v1/jobs", {"steps": [{"stage": "invert"}], "images": [{"key": job["input"]["key"]}]}),
        ("POST", "/v1/virtual-models:import", {"name": "x", "image": {"key": model["portrait"]["key"]}, "consent": {
            "subject_name": "a", "rights_holder": "b", "consent_obtained": True, "commercial_use_permitted": True,
            "evidence_reference": "c"}}),
    ]
    for method, path, body in probes:
        response = await bob.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    for path in ("/v1/jobs", "/v1/castings", "/v1/virtual-models", "/v1/webhook-endpoints"):
        assert (await bob.get(path)).json()["data"] == [], path
    # every tenant sees the five seed categories (issue 17); none of Alice's own
    assert {c["source"] for c in (await bob.get("/v1/categories")).json()["data"]} <= {"seed"}
    assert (await bob.get("/v1/api-keys")).json()["data"][0]["name"] == "initial"
    assert len((await bob.get("/v1/api-keys")).json()["data"]) == 1
    # Alice still has everything.
    assert (await alice.get(f"/v1/jobs/{job['id']}")).json()["status"] == "succeeded"
    assert (await alice.get(f"/v1/virtual-models/{model['id']}")).json()["name"] == "A"
    assert len(receiver.accepted()) == 1


async def test_object_urls_are_signed_per_key(api):
    job = (await api.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "invert"}]})},
                          files=[("image", ("p.png", png_bytes(), "image/png"))])).json()
    job = await api.wait_job(job["id"])
    url = job["result"]["url"].replace("http://127.0.0.1:8000", "")
    assert (await api.get(url)).status_code == 200
    other_key = url.replace("result.png", "0-input.png")
    assert (await api.get(other_key)).status_code == 404  # a signature is good for its own key only
