"""A casting with `engine: diffusion` and a category or brief through the gateway's chunked casting flow, with
the real generator stage on a tiny random SD 1.5 pipeline imported into the model store (issue 17)."""
from __future__ import annotations

import asyncio

import pytest

from services.generator import candidate_check
from shared.weights import ModelStore
from tests.generator.tiny_pipelines import save_tiny

OPENRAIL = "CreativeML-OpenRAIL-M"


@pytest.fixture
def faces_pass(monkeypatch):
    """A random pipeline draws no face: the generator's face check answers as for a face, and so does the
    swapper's prepare step at accept (FACE_PASSING_SWAPPER; both are tested on real portraits in
    tests/generator, tests/swapper and tests/gateway)."""
    monkeypatch.setattr(candidate_check, "check_candidate", lambda image: candidate_check.CandidateCheck())


async def wait_casting(api, casting_id: str) -> dict:
    for _ in range(2400):
        casting = (await api.get(f"/v1/castings/{casting_id}")).json()
        if casting["status"] in ("succeeded", "failed"):
            return casting
        await asyncio.sleep(0.05)
    raise AssertionError("casting did not finish")


async def cast(api, **body) -> dict:
    response = await api.post("/v1/castings", json={"engine": "diffusion", "steps": 2, **body})
    assert response.status_code == 202, response.text
    casting = await wait_casting(api, response.json()["id"])
    assert casting["status"] == "succeeded", casting["error"]
    return casting


async def test_a_diffusion_casting_with_a_category_and_a_brief(make_harness, tmp_path, faces_pass):
    harness = await make_harness(stages=["generator", "swapper"],
                                 extra_stages={"swapper": "tests.gateway.stages:FACE_PASSING_SWAPPER"})
    api = await harness.tenant()
    engines = {e["engine"]: e for e in (await api.get("/v1/engines")).json()["data"] if e["stage"] == "generator"}
    assert engines["diffusion"]["available"] is False
    assert "diffusion-pipeline" in engines["diffusion"]["unavailable_reason"]
    assert engines["demo"]["demo"] is True  # the demo stays labelled demo
    seeds = [c for c in (await api.get("/v1/categories")).json()["data"] if c["source"] == "seed"]
    assert {c["label"] for c in seeds} == {"elegant", "innocent", "alluring", "graceful", "fresh"}
    assert all(c["kind"] == "words" and c["ready"] is False for c in seeds)
    refused = await api.post("/v1/castings", json={"engine": "diffusion", "n": 1})
    assert refused.status_code == 409 and "facecast models import diffusion-pipeline" in refused.json()["detail"]

    ModelStore(root=harness.settings.model_dir).import_folder(
        "diffusion-pipeline", save_tiny("sd15", tmp_path / "sd15"), licence=OPENRAIL, commercial_use=True,
        source="tiny random pipeline built by the test")
    engines = {e["engine"]: e for e in (await api.get("/v1/engines")).json()["data"] if e["stage"] == "generator"}
    assert engines["diffusion"]["available"] is True
    imported = engines["diffusion"]["imported"][0]
    assert imported["licence"] == OPENRAIL and imported["use_restrictions"]["link"].startswith("https://")
    assert engines["diffusion"]["commercial_use"] is False  # unknown until imported …
    assert engines["diffusion"]["commercial_use_as_imported"] is True  # … and allowed by the imported record
    assert engines["demo"]["commercial_use_as_imported"] is None
    assert all(c["ready"] for c in (await api.get("/v1/categories")).json()["data"] if c["source"] == "seed")

    casting = await cast(api, n=3, seed=5, category="우아한")
    assert casting["expected"] == 3 and [c["seed"] for c in casting["candidates"]] == [5, 6, 7]
    for candidate in casting["candidates"]:
        assert "refined and poised" in candidate["prompt"] and "mouth closed" in candidate["prompt"]
        assert candidate["licence"]["licence"] == OPENRAIL and candidate["licence"]["commercial_use"] is True
        assert "may not" in candidate["licence"]["use_restrictions"]["summary"]
        assert candidate["check"]["passed"] and candidate["check"]["replaced"] == 0
    assert casting["engines"][0]["engine"] == "diffusion" and not casting["engines"][0]["demo"]

    brief = await cast(api, n=1, seed=5, brief="청량한 여름 느낌, 단발머리")
    assert "summer" in brief["candidates"][0]["prompt"] and "bob haircut" in brief["candidates"][0]["prompt"]

    words = await api.put("/v1/categories/elegant/words", json={"phrase": "old-money elegance, pearl earrings",
                                                                "negative": "logo", "labels": {"ko": "우아한"}})
    assert words.status_code == 200 and words.json()["kind"] == "words" and words.json()["ready"] is True
    listed = [c for c in (await api.get("/v1/categories")).json()["data"] if c["label"] == "elegant"]
    assert len(listed) == 1 and listed[0]["source"] == "tenant"
    own = await cast(api, n=1, seed=5, category="elegant")
    assert "pearl earrings" in own["candidates"][0]["prompt"]
    assert "refined and poised" not in own["candidates"][0]["prompt"]

    model = await api.post("/v1/virtual-models", json={"casting_id": casting["id"], "candidate": 1, "name": "Yuna"})
    assert model.status_code == 201, model.text
    info = model.json()["engine_info"]
    assert model.json()["seed"] == 6 and info["licence"] == OPENRAIL and "refined and poised" in info["prompt"]
    assert info["use_restrictions"]["licence"] == "CreativeML OpenRAIL-M" and info["family"] == "sd15"
    from services.gateway.provenance import engine_line

    assert info["use_restrictions"]["link"] in engine_line({"stage": "identity", "engine": "diffusion", **info})
    refused_fit = await api.post("/v1/categories/elegant:fit", json={"engine": "diffusion"})
    assert refused_fit.status_code == 422 and "/v1/categories/elegant/words" in refused_fit.json()["detail"]
    strength = await api.post("/v1/castings", json={"engine": "diffusion", "n": 1, "category": "elegant",
                                                    "strength": 2.0})
    assert strength.status_code == 422 and "words" in strength.json()["detail"]
