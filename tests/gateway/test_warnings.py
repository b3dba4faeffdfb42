"""Never a silent bad result: the warnings a stage puts in its report reach the job (API), its SSE events, the
`job.succeeded` webhook and the SDK, each with the stage and step it came from; the job still succeeds."""
from __future__ import annotations

import json

import httpx

from facecast import AsyncFaceCast, FaceCast, JobWarning, job_warnings
from services.gateway.schemas import JobOut
from tests.gateway.conftest import TEST_STAGES, png_bytes
from tests.gateway.receiver import Receiver
from tests.gateway.stages import WARNINGS
from tests.gateway.test_lifecycle import parse_sse
from tests.gateway.test_webhooks import LOCAL, wait_for

STAGES = {**TEST_STAGES, "warn": "tests.gateway.stages:WARN"}
EXPECTED = [{**w, "stage": "warn", "step": 2} for w in WARNINGS]


async def test_step_warnings_reach_the_job_sse_webhook_and_sdk(make_harness):
    harness = await make_harness(stages=[*TEST_STAGES, "warn"], extra_stages=STAGES, **LOCAL)
    api = await harness.tenant()
    with Receiver() as receiver:
        endpoint = (await api.post("/v1/webhook-endpoints", json={"url": receiver.url})).json()
        options = {"steps": [{"stage": "invert"}, {"stage": "warn"}]}
        created = await api.post("/v1/jobs", data={"options": json.dumps(options)},
                                 files=[("image", ("p.png", png_bytes(), "image/png"))])
        assert created.status_code == 202, created.text
        assert created.json()["warnings"] == []  # nothing ran yet
        job = await api.wait_job(created.json()["id"])

        # the job: succeeded, with the warnings in step order, as documented
        assert job["status"] == "succeeded" and job["error"] is None, job
        assert job["warnings"] == EXPECTED
        assert [w.model_dump() for w in JobOut.model_validate(job).warnings] == EXPECTED
        assert job["steps"][1]["report"]["warnings"] == WARNINGS  # the step's own report, as the stage wrote it
        listed = (await api.get("/v1/jobs")).json()["data"][0]
        assert listed["id"] == job["id"] and listed["warnings"] == EXPECTED

        # SSE: the finished step's event carries its warnings, and the end event all of the job's
        events = parse_sse((await api.get(f"/v1/jobs/{job['id']}/events")).text)
        finished = {data["step"]: data for kind, data in events if kind != "end" and data["status"] == "succeeded"}
        assert "warnings" not in finished[1] and finished[2]["warnings"] == EXPECTED
        assert events[-1] == ("end", {"job_id": job["id"], "status": "succeeded", "warnings": EXPECTED})

        # the job.succeeded webhook payload
        await wait_for(lambda: _accepted(receiver))
        body = json.loads(receiver.accepted()[0]["body"])
        assert body["type"] == "job.succeeded" and body["data"]["id"] == job["id"]
        assert body["data"]["warnings"] == EXPECTED
        assert endpoint["id"]

        # the SDK, sync and async, on the same server
        transport = httpx.ASGITransport(app=harness.app)
        async with AsyncFaceCast(api_key=api.token, base_url="http://testserver", transport=transport) as fc:
            assert await fc.warnings(job["id"]) == [JobWarning(**w) for w in EXPECTED]
            done = await fc.wait([job["id"]], progress=False)
        assert job_warnings(done[0]) == [JobWarning(**w) for w in EXPECTED]
        assert str(job_warnings(done[0])[0]) == f"step 2 (warn), face 0: soft-face: {WARNINGS[0]['message']}"
        with FaceCast(api_key=api.token, base_url="http://testserver",
                      transport=httpx.MockTransport(lambda request: httpx.Response(200, json=job))) as sync:
            assert sync.warnings(job["id"]) == job_warnings(job)
            assert sync.warnings(job) == job_warnings(job)  # a job dictionary needs no request

        # a job without warnings has an empty list everywhere
        plain = await api.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "invert"}]})},
                               files=[("image", ("q.png", png_bytes(seed=1), "image/png"))])
        plain = await api.wait_job(plain.json()["id"])
        assert plain["status"] == "succeeded" and plain["warnings"] == []
        assert job_warnings(plain) == []


async def _accepted(receiver) -> bool:
    return len(receiver.accepted()) >= 1


def test_malformed_warnings_are_normalised_not_dropped():
    from services.gateway.domain.jobs import step_warnings

    report = {"warnings": [{"code": "tone-mismatch", "message": "cheeks 9.1 ΔE from the neck", "face": 1},
                           "a bare string", {"code": "x" * 100, "face": True}]}
    assert step_warnings(report, "swapper", 1) == [
        {"code": "tone-mismatch", "message": "cheeks 9.1 ΔE from the neck", "face": 1, "stage": "swapper", "step": 1},
        {"code": "warning", "message": "a bare string", "face": None, "stage": "swapper", "step": 1},
        {"code": "x" * 64, "message": "x" * 100, "face": None, "stage": "swapper", "step": 1},
    ]
    assert step_warnings({"warnings": "not a list"}, "swapper", 1) == []
    assert step_warnings(None, "swapper", 1) == []
