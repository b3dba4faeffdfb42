"""The SDK and `facecast client run` against a live `facecast serve` (embedded default)."""
from __future__ import annotations

import io
import json
import shutil
import time

import pytest
from PIL import Image

from facecast.cli import MANIFEST
from facecast import AsyncFaceCast, FaceCast, WebhookVerificationError, verify_webhook
from services.cli import main as facecast_main

from .live import TEST_IMAGES

PHOTOS = ["portrait_astronaut.jpg", "portrait_hopper.jpg"]
STEPS = "swap"
OPTIONS = {"scale": 1} if STEPS == "enhance" else {}  # every step here keeps the photo's size
STAGE_NAMES = {"swap": "swapper", "enhance": "enhancer", "makeup": "makeup"}


@pytest.fixture(scope="module")
def client(live):
    with FaceCast(live.api_key, live.url) as c:
        yield c


@pytest.fixture(scope="module")
def model(client):
    """A virtual model cast with the demo engine (the engine that works without imported weights)."""
    casting = client.create_casting(n=1, engine="demo", seed=7)
    casting = client.wait_casting(casting["id"], timeout=240)
    assert casting["status"] == "succeeded" and len(casting["candidates"]) == 1
    vm = client.accept_candidate(casting["id"], 0, "SDK 모델")
    assert vm["name"] == "SDK 모델" and vm["engine"] == "demo"
    assert vm["engine_info"].get("commercial_use") is False
    return vm


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im.size


def test_folder_run_then_resume_skips_done_photos(client, model, tmp_path, capsys, live):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in PHOTOS:
        shutil.copy(TEST_IMAGES / name, photos / name)
    out = tmp_path / "out"
    argv = ["client", "run", str(photos), "--model", model["id"], "--steps", STEPS, "-o", str(out),
            "--url", live.url, "--api-key", live.api_key, "--no-progress", "--timeout", "600",
            *(f"--{k}={v}" for k, v in OPTIONS.items())]

    assert facecast_main(argv) == 0, capsys.readouterr()
    first = capsys.readouterr().out
    manifest = json.loads((out / MANIFEST).read_text())
    assert sorted(manifest["photos"]) == PHOTOS
    for name in PHOTOS:
        entry = manifest["photos"][name]
        assert entry["status"] == "done", entry
        result = out / entry["outputs"][0]
        original = image_size((photos / name).read_bytes())
        assert image_size(result.read_bytes()) == original
        assert result.read_bytes() != (photos / name).read_bytes()
        job = client.get_job(entry["job_id"])
        assert job["status"] == "succeeded"
        assert [s["stage"] for s in job["steps"]] == [STAGE_NAMES[n] for n in STEPS.split(",")]
    assert "done 2" in first

    jobs_before = sum(1 for _ in client.list_jobs())
    assert facecast_main(argv) == 0
    second = capsys.readouterr().out
    assert "skipped 2" in second and "done 0" in second
    assert sum(1 for _ in client.list_jobs()) == jobs_before  # nothing was submitted again


def test_webhook_helper_verifies_a_real_delivery(client, receiver, model):
    endpoint = client.create_webhook_endpoint(receiver.url, events=["job.succeeded", "job.failed"])
    secret = endpoint["secret"]
    assert secret.startswith("whsec_")
    assert all(e.get("secret") is None for e in client.webhook_endpoints())  # shown once only

    [job] = client.create_jobs(TEST_IMAGES / PHOTOS[0], model=model["id"], steps=STEPS,
                                  idempotency_key="wh-1", **OPTIONS)
    got = receiver.wait_for(lambda r: job["id"] in r.body.decode(), timeout_s=300)
    payload = verify_webhook(secret, got.headers, got.body)
    assert payload["type"] in ("job.succeeded", "job.failed")
    assert job["id"] in json.dumps(payload)

    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, got.headers, got.body.replace(b"job", b"jab", 1))
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, got.headers, got.body, tolerance_s=-1)  # replay window
    deadline = time.monotonic() + 30  # the gateway records the attempt just after our receiver answered
    while True:
        deliveries = client.webhook_deliveries(endpoint["id"])
        if any(d["status"] == "succeeded" for d in deliveries):
            break
        assert time.monotonic() < deadline, deliveries
        time.sleep(0.2)
    assert deliveries[0]["attempts"] >= 1 and deliveries[0]["last_status_code"] == 204


def test_idempotency_key_by_default_and_the_event_stream(client, model):
    data = (TEST_IMAGES / PHOTOS[1]).read_bytes()
    first = client.create_jobs(data, model=model["id"], steps=STEPS, **OPTIONS)
    again = client.create_jobs(data, model=model["id"], steps=STEPS, **OPTIONS)
    assert [j["id"] for j in first] == [j["id"] for j in again]
    events = list(client.events(first[0]))  # the SSE stream runs until the job is finished
    assert events[-1].event == "end" and events[-1].json()["status"] == "succeeded"
    assert {e.json()["stage"] for e in events[:-1]} >= {STAGE_NAMES[STEPS.split(",")[0]]}
    assert [int(e.id) for e in events[:-1]] == sorted(int(e.id) for e in events[:-1])
    done = client.wait(first, timeout=600, progress=False)
    assert done[0]["status"] == "succeeded"


async def test_async_client_uploads_waits_and_downloads(live, model, tmp_path):
    async with AsyncFaceCast(live.api_key, live.url) as fc:
        jobs = await fc.create_jobs([TEST_IMAGES / PHOTOS[0]], model=model["id"], steps=STEPS, upload=True,
                                   **OPTIONS)
        assert len(jobs) == 1 and jobs[0]["status"] in ("queued", "running", "succeeded")
        done = await fc.wait(jobs, timeout=600, progress=False, raise_on_failure=True)
        saved = await fc.download(done, tmp_path, names={done[0]["id"]: "astronaut"})
    assert [p.name for p in saved][0].startswith("astronaut")
    assert image_size(saved[0].read_bytes()) == image_size((TEST_IMAGES / PHOTOS[0]).read_bytes())
