"""A transparent PNG product cut-out through a two-step job on the embedded gateway: the result (with its
provenance packet) is still RGBA with the very alpha it came with, and the colour under it."""
from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from services.gateway.provenance import read_xmp
from tests.gateway.conftest import TEST_STAGES
from tests.gateway.test_jobs import download

STAGES = {**TEST_STAGES, "warn": "tests.gateway.stages:WARN"}


def cut_out() -> np.ndarray:
    rng = np.random.default_rng(5)
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[:, :, :3] = rng.integers(0, 256, (48, 64, 3))
    yy, xx = np.mgrid[:48, :64]
    distance = np.hypot((yy - 24) / 20, (xx - 32) / 26)
    rgba[:, :, 3] = np.clip((1.2 - distance) * 5 * 255, 0, 255).astype(np.uint8)  # opaque middle, soft edge
    return rgba


async def test_rgba_png_keeps_its_alpha_through_every_step(make_harness):
    harness = await make_harness(stages=["warn"], extra_stages=STAGES)
    api = await harness.tenant()
    rgba = cut_out()
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    options = {"steps": [{"stage": "warn"}, {"stage": "warn"}]}
    created = await api.post("/v1/jobs", data={"options": json.dumps(options)},
                             files=[("image", ("cutout.png", buffer.getvalue(), "image/png"))])
    job = await api.wait_job(created.json()["id"])
    assert job["status"] == "succeeded", job
    assert [s["report"]["alpha"] for s in job["steps"]] == ["kept", "kept"]
    assert "alpha-flattened" not in {w["code"] for w in job["warnings"]}
    data = await download(api, job["result"]["url"])
    assert job["id"] in read_xmp(data).decode()
    result = Image.open(io.BytesIO(data))
    assert result.mode == "RGBA"
    out = np.asarray(result)
    assert np.array_equal(out[:, :, 3], rgba[:, :, 3])
    visible = rgba[:, :, 3] >= 128
    assert np.abs(out[:, :, :3][visible].astype(int) - rgba[:, :, :3][visible]).max() <= 2
