"""The enhancer as a worker: one gpen pass for a micro-batch of events, a face-less event failing alone."""
from __future__ import annotations

import torch

from services.enhancer.engines import gpen
from services.enhancer.nets.gpen import FullGenerator
from services.enhancer.stage import STAGE
from shared.events import JobEventKind
from shared.images import decode_image, encode_image
from tests.backbone.test_runtime import Harness
from tests.data import load_image
from tests.enhancer.test_gpen_engine import TINY


async def test_a_micro_batch_of_gpen_events_makes_one_network_call(tmp_path, astronaut, hopper, monkeypatch):
    harness = Harness(tmp_path)
    torch.manual_seed(0)
    checkpoint = tmp_path / "gpen-tiny.pth"
    torch.save(FullGenerator(**TINY).state_dict(), checkpoint)
    harness.models.import_file(gpen.WEIGHTS_NAME, checkpoint, licence="non-commercial (test)", commercial_use=False,
                               source="tests: random tiny GPEN")
    restorer = gpen.load(harness.models)
    batches = []
    original_restore = restorer.restore
    monkeypatch.setattr(restorer, "restore", lambda crops: batches.append(len(crops)) or original_restore(crops))

    jobs = []
    for name, image in (("astronaut", astronaut), ("wall", load_image("noface_brick")), ("hopper", hopper)):
        ref = harness.put_image(name, encode_image(image, "png"))
        # restore "full": the network path whatever the measured degradation of these sharp faces
        jobs.append(await harness.submit([("enhancer", {"engine": "gpen", "restore": "full"})], job_id=name,
                                         image=ref))
    harness.start(STAGE, batch_max=3, batch_wait_ms=200)
    try:
        finals = {job.job_id: await harness.final(job.job_id) for job in jobs}
    finally:
        await harness.stop()
    assert batches == [2]
    assert finals["wall"].kind == JobEventKind.failed and finals["wall"].error.code == "no-face-found"
    for name, image in (("astronaut", astronaut), ("hopper", hopper)):
        final = finals[name]
        assert final.kind == JobEventKind.completed, final.error
        assert final.outcome.report["engine"] == "gpen" and final.outcome.report["commercial_use"] is False
        result = decode_image(harness.store.get_bytes(final.outcome.outputs["image"].key)).pixels
        assert result.shape == image.shape and (result != image).any()
