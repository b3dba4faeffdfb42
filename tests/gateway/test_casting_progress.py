"""Castings in chunks: candidates show one chunk at a time while the casting runs (one generator step per
chunk), the chunks make byte for byte what one request makes, and `casting.ready` still fires once."""
from __future__ import annotations

import asyncio
import io
import json
import threading

import numpy as np
import pytest

from services.gateway.domain.castings import CHUNK, FIRST_CHUNK, chunk_plan
from tests.gateway.conftest import TEST_STAGES
from tests.gateway.stages import FAKE_GENERATOR, fake_generate
from tests.gateway.test_castings import wait_casting

from shared.errors import InvalidInput
from shared.stage import StageDefinition

# Chunks from `first_index >= 1` wait for GATE: the test sees the casting with its first chunk only.
GATE = threading.Event()
RAN: list[int] = []  # first_index of every chunk the generator ran, in order
FAIL_FROM: list[int] = []  # chunks from this first_index on fail (a bad input: no retry)


def gated_generate(params, inputs, ctx):
    RAN.append(params.first_index)
    if FAIL_FROM and params.first_index >= FAIL_FROM[0]:
        raise InvalidInput(f"chunk from {params.first_index} refused by the test")
    if params.first_index >= 1 and not GATE.wait(timeout=60):
        raise TimeoutError("the test never opened the gate")
    return fake_generate(params, inputs, ctx)


GATED_GENERATOR = StageDefinition(name="generator", params_model=FAKE_GENERATOR.params_model, run=gated_generate,
                                  engines=FAKE_GENERATOR.engines, extra_inputs=FAKE_GENERATOR.extra_inputs)
FAKE_STAGES = {**TEST_STAGES, "generator": "tests.gateway.stages:FAKE_GENERATOR"}
GATED_STAGES = {**TEST_STAGES, "generator": f"{__name__}:GATED_GENERATOR"}


@pytest.fixture
def gate(make_harness):
    """Closed during the test; opened before the harness stops (so no worker thread is left waiting)."""
    GATE.clear()
    RAN.clear()
    FAIL_FROM.clear()
    yield GATE
    GATE.set()


def local(url: str) -> str:
    return url.replace("http://127.0.0.1:8000", "")


# ---- the chunk plan -----------------------------------------------------------------------------------
@pytest.mark.parametrize("n, chunks", [
    (1, [(0, 1)]),
    (2, [(0, 1), (1, 1)]),
    (4, [(0, 1), (1, 3)]),
    (5, [(0, 1), (1, 4)]),
    (8, [(0, 1), (1, 4), (5, 3)]),
    (32, [(0, 1)] + [(1 + 4 * k, 4) for k in range(7)] + [(29, 3)]),
])
def test_chunk_plan(n, chunks):
    assert (FIRST_CHUNK, CHUNK) == (1, 4)
    assert chunk_plan(n) == chunks
    covered = [first + k for first, count in chunks for k in range(count)]
    assert covered == list(range(n))


def test_chunk_plan_refuses_nonsense():
    for args in ((0,), (3, 0), (3, 1, 0)):
        with pytest.raises(ValueError):
            chunk_plan(*args)


@pytest.mark.parametrize("n", [1, 2, 4, 8, 32])
async def test_a_casting_is_one_generator_step_per_chunk(make_harness, n):
    harness = await make_harness(stages=["generator"], extra_stages=FAKE_STAGES)
    api = await harness.tenant()
    created = await api.post("/v1/castings", json={"engine": "demo", "n": n, "seed": 50, "truncation": 0.6})
    assert created.status_code == 202, created.text
    assert created.json()["expected"] == n
    job = (await api.get(f"/v1/jobs/{created.json()['job_id']}")).json()
    assert [s["stage"] for s in job["steps"]] == ["generator"] * len(chunk_plan(n))
    assert [s["number"] for s in job["steps"]] == list(range(1, len(chunk_plan(n)) + 1))
    for step, (first, count) in zip(job["steps"], chunk_plan(n)):
        assert step["params"] == {"engine": "demo", "seeds": list(range(50 + first, 50 + first + count)),
                                  "truncation": 0.6, "first_index": first}
    casting = await wait_casting(api, created.json()["id"])
    assert casting["status"] == "succeeded" and casting["expected"] == n
    assert [(c["index"], c["seed"]) for c in casting["candidates"]] == [(i, 50 + i) for i in range(n)]
    assert len({c["image"]["key"] for c in casting["candidates"]}) == n
    assert len(casting["engines"]) == 1  # every chunk used the same engine: listed once
    assert len((await api.get(f"/v1/jobs/{casting['job_id']}")).json()["engines"]) == 1  # the job too


async def test_random_castings_and_the_limit_in_chunks(make_harness):
    harness = await make_harness(stages=["generator"], extra_stages=FAKE_STAGES)
    api = await harness.tenant()
    too_many = await api.post("/v1/castings", json={"engine": "demo", "n": 33})
    assert too_many.status_code == 422
    assert "33 candidates requested; the maximum per request is 32" in too_many.json()["detail"]
    created = (await api.post("/v1/castings", json={"engine": "demo", "n": 6})).json()
    job = (await api.get(f"/v1/jobs/{created['job_id']}")).json()
    assert [(s["params"]["n"], s["params"]["first_index"]) for s in job["steps"]] == [(1, 0), (4, 1), (1, 5)]
    casting = await wait_casting(api, created["id"])
    assert [c["index"] for c in casting["candidates"]] == list(range(6))
    assert all(isinstance(c["seed"], int) for c in casting["candidates"])


# ---- progress while the casting runs --------------------------------------------------------------------
async def test_candidates_show_while_the_casting_runs_and_can_be_accepted(make_harness, gate):
    harness = await make_harness(stages=["generator", "swapper"], extra_stages=GATED_STAGES)
    api = await harness.tenant()
    created = (await api.post("/v1/castings", json={"engine": "demo", "n": 6, "seed": 10})).json()
    assert created["expected"] == 6 and created["candidates"] == []
    for _ in range(400):
        casting = (await api.get(f"/v1/castings/{created['id']}")).json()
        if casting["candidates"]:
            break
        await asyncio.sleep(0.05)
    # the first chunk is done, the second waits at the gate: the casting runs and shows candidate 0
    assert casting["status"] == "running" and casting["expected"] == 6
    assert [(c["index"], c["seed"]) for c in casting["candidates"]] == [(0, 10)]
    assert casting["candidates"][0]["image"]["url"]
    job = (await api.get(f"/v1/jobs/{casting['job_id']}")).json()
    assert job["status"] == "running"
    assert job["steps"][0]["status"] == "succeeded" and job["steps"][2]["status"] == "pending"
    assert job["steps"][0]["outputs"]["candidate-0"]["sha256"] == casting["candidates"][0]["image"]["sha256"]
    listed = (await api.get("/v1/castings")).json()["data"][0]
    assert listed["id"] == casting["id"] and len(listed["candidates"]) == 1

    # a candidate already made can be accepted at once; one still being made is a 409
    early = await api.post("/v1/virtual-models", json={"casting_id": casting["id"], "candidate": 0, "name": "Early"})
    assert early.status_code == 201, early.text
    assert early.json()["seed"] == 10 and early.json()["engine"] == "demo"
    waiting = await api.post("/v1/virtual-models", json={"casting_id": casting["id"], "candidate": 3, "name": "x"})
    assert waiting.status_code == 409 and "not made yet" in waiting.json()["detail"]
    beyond = await api.post("/v1/virtual-models", json={"casting_id": casting["id"], "candidate": 6, "name": "x"})
    assert beyond.status_code == 404

    gate.set()
    casting = await wait_casting(api, created["id"])
    assert casting["status"] == "succeeded"
    assert [(c["index"], c["seed"]) for c in casting["candidates"]] == [(i, 10 + i) for i in range(6)]
    assert RAN == [0, 1, 5]  # the chunks ran one after another, first the single face
    late = await api.post("/v1/virtual-models", json={"casting_id": casting["id"], "candidate": 5, "name": "Late"})
    assert late.status_code == 201, late.text
    assert late.json()["seed"] == 15 and late.json()["candidate"] == 5
    assert late.json()["portrait"]["sha256"] == casting["candidates"][5]["image"]["sha256"]

    # the job's event stream shows every chunk start and finish, then the end
    async with api.stream("GET", f"/v1/jobs/{casting['job_id']}/events") as stream:
        text = "".join([chunk async for chunk in stream.aiter_text()])
    events = [json.loads(line[len("data: "):]) for line in text.splitlines() if line.startswith("data: ")]
    finished = [(e["step"], e["kind"]) for e in events if "step" in e and e["status"] == "succeeded"]
    assert finished == [(1, "progress"), (2, "progress"), (3, "completed")]
    assert events[-1] == {"job_id": casting["job_id"], "status": "succeeded"}


async def test_a_canceled_casting_keeps_no_candidates_to_accept(make_harness, gate):
    harness = await make_harness(stages=["generator", "swapper"], extra_stages=GATED_STAGES)
    api = await harness.tenant()
    created = (await api.post("/v1/castings", json={"engine": "demo", "n": 3, "seed": 1})).json()
    for _ in range(400):
        if (await api.get(f"/v1/castings/{created['id']}")).json()["candidates"]:
            break
        await asyncio.sleep(0.05)
    assert (await api.post(f"/v1/jobs/{created['job_id']}:cancel")).status_code == 200
    refused = await api.post("/v1/virtual-models", json={"casting_id": created["id"], "candidate": 0, "name": "x"})
    assert refused.status_code == 422 and "canceled" in refused.json()["detail"]


async def test_a_failed_chunk_fails_the_casting_and_keeps_the_candidates_made(make_harness, gate):
    gate.set()
    FAIL_FROM.append(1)
    harness = await make_harness(stages=["generator", "swapper"], extra_stages=GATED_STAGES)
    api = await harness.tenant()
    created = (await api.post("/v1/castings", json={"engine": "demo", "n": 4, "seed": 30})).json()
    casting = await wait_casting(api, created["id"])
    assert casting["status"] == "failed" and "refused by the test" in casting["error"]["message"]
    assert casting["expected"] == 4 and [c["index"] for c in casting["candidates"]] == [0]
    assert RAN == [0, 1]
    kept = await api.post("/v1/virtual-models", json={"casting_id": casting["id"], "candidate": 0, "name": "Kept"})
    assert kept.status_code == 201, kept.text
    missing = await api.post("/v1/virtual-models", json={"casting_id": casting["id"], "candidate": 2, "name": "x"})
    assert missing.status_code == 404


def test_candidates_of_a_casting_made_in_one_step_before_chunks():
    from services.gateway.domain.castings import candidates, expected_count
    from services.gateway.db.models import Job

    def ref(name: str) -> dict:
        return {"key": f"k/{name}", "content_type": "image/png", "sha256": "0" * 64, "size": 1}

    outputs = {f"{kind}-{i}": ref(f"{kind}-{i}") for i in range(3) for kind in ("candidate", "latent")}
    report = {"candidates": [{"artifact": f"candidate-{i}", "seed": 7 + i} for i in range(3)]}
    job = Job(id="job_1", kind="casting", status="succeeded",
              steps=[{"number": 1, "stage": "generator", "params": {"engine": "demo", "seeds": [7, 8, 9]}}],
              step_states={"1": {"status": "succeeded", "outcome": {"outputs": outputs, "report": report}}})
    assert expected_count(job) == 3
    assert [(c["index"], c["seed"], c["image"]["key"], c["latent"]["key"], c["step"]) for c in candidates(job)] == [
        (i, 7 + i, f"k/candidate-{i}", f"k/latent-{i}", 1) for i in range(3)]


# ---- casting.ready once, progress on the way ------------------------------------------------------------
async def test_casting_ready_fires_once_after_every_chunk(make_harness):
    from tests.gateway.receiver import Receiver

    harness = await make_harness(stages=["generator"], extra_stages=FAKE_STAGES, allow_http_urls=True,
                                 netguard_allow_networks=["127.0.0.1/32"], webhook_progress_interval_s=0)
    api = await harness.tenant()
    with Receiver() as receiver:
        endpoint = (await api.post("/v1/webhook-endpoints", json={
            "url": receiver.url, "event_types": ["casting.ready", "job.progress"]})).json()
        created = (await api.post("/v1/castings", json={"engine": "demo", "n": 9, "seed": 20})).json()
        casting = await wait_casting(api, created["id"])
        assert casting["status"] == "succeeded"
        for _ in range(200):
            deliveries = (await api.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries")).json()["data"]
            if deliveries and all(d["status"] == "succeeded" for d in deliveries) and \
                    any(d["event_type"] == "casting.ready" for d in deliveries):
                break
            await asyncio.sleep(0.05)
        types = sorted(d["event_type"] for d in deliveries)
        assert types == ["casting.ready", "job.progress", "job.progress"]  # 3 chunks: 2 on the way, 1 at the end
        bodies = [json.loads(r["body"]) for r in receiver.accepted()]
        ready = [b for b in bodies if b["type"] == "casting.ready"]
        assert len(ready) == 1
        assert ready[0]["data"]["expected"] == 9
        assert [c["seed"] for c in ready[0]["data"]["candidates"]] == list(range(20, 29))
        assert len(ready[0]["data"]["engines"]) == 1


# ---- determinism: the real generator, chunked by the gateway, against one request -----------------------
async def test_chunked_casting_equals_the_single_request(make_harness, tmp_path):
    import torch

    from services.generator.casting import Direction, save_direction
    from services.generator.engines.stylegan2 import DEFAULT_WEIGHTS
    from services.generator.stage import STAGE
    from shared.images import encode_image
    from shared.stage import StageContext, StageInputs
    from shared.store import sha256_hex
    from shared.weights import ModelStore
    from tests.generator.conftest import import_checkpoint, small_checkpoint

    torch.set_num_threads(2)
    store = ModelStore(root=tmp_path / "models")  # the harness's model store: a small net as the default weights
    import_checkpoint(store, small_checkpoint(), DEFAULT_WEIGHTS, tmp_path)
    record = store.records()[DEFAULT_WEIGHTS]
    direction = np.random.default_rng(5).normal(size=32).astype(np.float32)
    save_direction(store, DEFAULT_WEIGHTS, record.sha256, 32,
                   Direction("elegant", direction / np.linalg.norm(direction), 2.0, "made by the test"))
    harness = await make_harness(stages=["generator"])
    api = await harness.tenant()

    first = (await api.post("/v1/castings", json={"engine": "stylegan2", "n": 2, "seed": 1})).json()
    first = await wait_casting(api, first["id"])
    assert first["status"] == "succeeded", first["error"]
    body = {"engine": "stylegan2", "n": 7, "seed": 300, "truncation": 0.6, "category": "elegant", "strength": 1.5,
            "near": [f"{first['id']}/0", f"{first['id']}/1"], "spread": 0.35}
    created = await api.post("/v1/castings", json=body)
    assert created.status_code == 202, created.text
    job = (await api.get(f"/v1/jobs/{created.json()['job_id']}")).json()
    assert len(job["steps"]) == 3  # 1 + 4 + 2
    casting = await wait_casting(api, created.json()["id"])
    assert casting["status"] == "succeeded", casting["error"]

    near = {f"near-{i}": np.load(io.BytesIO((await api.get(local(c["latent"]["url"]))).content))
            for i, c in enumerate(first["candidates"])}
    whole = STAGE.run(STAGE.parse_params({"engine": "stylegan2", "seeds": list(range(300, 307)), "truncation": 0.6,
                                          "category": "elegant", "strength": 1.5, "spread": 0.35}),
                      StageInputs(image=None, extras=near), StageContext(settings=harness.settings, models=store))
    assert [c["seed"] for c in casting["candidates"]] == [c["seed"] for c in whole.report["candidates"]]
    for c in casting["candidates"]:
        buffer = io.BytesIO()
        np.save(buffer, whole.artifacts[f"latent-{c['index']}"], allow_pickle=False)
        assert c["latent"]["sha256"] == sha256_hex(buffer.getvalue()), c["index"]
        assert c["image"]["sha256"] == sha256_hex(encode_image(whole.artifacts[f"candidate-{c['index']}"], "png")), \
            c["index"]
        served = (await api.get(local(c["image"]["url"]))).content
        assert sha256_hex(served) == c["image"]["sha256"]
