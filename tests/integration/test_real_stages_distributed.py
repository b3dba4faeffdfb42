"""The real stages as an ops team runs them: `facecast gateway` and one `facecast worker` per stage
(generator with the demo engine, swapper, enhancer, makeup) as separate processes on Tansu (Kafka
protocol) + the JuiceFS S3 gateway + PostgreSQL.

One run, small images, to stay within CI's budget:
- a casting with random seeds (drawn up to 2**32 - 1) whose every candidate is accepted;
- a swap → enhance → makeup job with the accepted virtual model;
- a batch of three swap jobs, during which the swapper is SIGKILLed mid-step and a
  replacement joins its group: every job still succeeds with exactly one output per step and exactly
  one `job.succeeded` webhook, and the interrupted step reports its own work apart from its wait.
"""
from __future__ import annotations

import io
import json
import time
import urllib.request
from collections import Counter
from datetime import datetime

import httpx
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from shared.ids import random_hex
from shared.store.s3 import S3Store
from tests.gateway.receiver import Receiver, verify_standard_webhook
from tests.integration import servers
from tests.integration.test_gateway_postgres import base_url, create_tenant, wait_ready

pytestmark = pytest.mark.integration
STAGES = ("generator", "swapper", "enhancer", "makeup")
FINISHED = {"succeeded", "failed", "canceled"}


@pytest.fixture(scope="module")
def broker():
    """A broker of its own: no committed offsets or leftover events of other tests reach these workers."""
    b = servers.TansuBroker().start()
    yield b
    b.stop()


def jpeg(pixels: np.ndarray, size: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((size, size)).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def worker_ready(port: int, worker, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        assert worker.proc.poll() is None, f"worker {worker.args} exited:\n{worker.log()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:  # 503 names what the worker waits for
            last = json.loads(error.read()).get("waiting_for")
            assert last, "a worker that is not ready says what it waits for"
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"worker {worker.args} not ready after {timeout_s} s (waiting for {last}):\n"
                         f"{worker.log()[-3000:]}")


def wait_until(client: httpx.Client, path: str, done, what: str, timeout_s: float = 240,
               interval_s: float = 0.1) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(path).json()
        if done(body):
            return body
        time.sleep(interval_s)
    raise AssertionError(f"timed out waiting for {what}: {body}")


def test_real_stages_as_separate_processes_on_kafka_s3_and_postgres(facecast_env, broker, s3_server, postgres_db,
                                                                    tmp_path, spawn_facecast):
    started = time.monotonic()
    port = servers.free_port()
    env = facecast_env(bucket=f"real-{random_hex(8)}", database_url=postgres_db.url)
    env.update(servers.server_env(broker, s3_server, env["FACECAST_S3_BUCKET"], tmp_path / "data", postgres_db.url))
    env.update({"FACECAST_PORT": str(port), "FACECAST_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "FACECAST_ALLOW_HTTP_URLS": "true", "FACECAST_NETGUARD_ALLOW_NETWORKS": '["127.0.0.1/32"]',
                "FACECAST_OUTBOX_POLL_S": "0.2", "FACECAST_WEBHOOK_RETRY_SCHEDULE_S": "[0, 0.5, 0.5, 0.5]",
                "FACECAST_MAX_ATTEMPTS": "3", "FACECAST_RETRY_BACKOFF_S": "0.05",
                "OMP_NUM_THREADS": "1"})  # five model processes share CI's two cores
    gateway = spawn_facecast("gateway", env=env)
    workers, ports = {}, {}
    for stage in STAGES:
        ports[stage] = servers.free_port()
        workers[stage] = spawn_facecast("worker", stage, env={**env, "FACECAST_WORKER_PORT": str(ports[stage])})
    token = create_tenant(env)  # the README's way to get a key in this mode
    wait_ready(env, gateway, timeout_s=180)
    for stage in STAGES:
        worker_ready(ports[stage], workers[stage])
    ready_s = time.monotonic() - started
    client = httpx.Client(base_url=base_url(env), headers={"Authorization": f"Bearer {token}"}, timeout=60)
    store = S3Store.connect(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, env["FACECAST_S3_BUCKET"])

    with Receiver() as receiver:
        endpoint = client.post("/v1/webhook-endpoints", json={"url": receiver.url, "event_types": ["job.succeeded"]})
        assert endpoint.status_code == 201, endpoint.text
        secret = endpoint.json()["secret"]

        # ---- a casting with random seeds: every candidate can be accepted ----------------------------
        response = client.post("/v1/castings", json={"engine": "demo", "n": 2})  # two chunks: 1 + 1
        assert response.status_code == 202, response.text
        casting = wait_until(client, f"/v1/castings/{response.json()['id']}", lambda c: c["status"] in FINISHED,
                             "the casting")
        assert casting["status"] == "succeeded", casting
        assert len(casting["candidates"]) == 2
        models = []
        for candidate in casting["candidates"]:
            accepted = client.post("/v1/virtual-models", json={"casting_id": casting["id"],
                                                               "candidate": candidate["index"],
                                                               "name": f"cand-{candidate['index']}"})
            assert accepted.status_code == 201, accepted.text  # a seed ≥ 2**31 was a 500 on PostgreSQL
            assert accepted.json()["seed"] == candidate["seed"]
            models.append(accepted.json())
        assert all(0 <= m["seed"] < 2**32 for m in models)
        casting_s = time.monotonic() - started - ready_s

        # ---- swap → enhance → makeup with the accepted virtual model ---------------------------------
        photo = jpeg(skdata.astronaut(), 256)
        options = {"virtual_model_id": models[0]["id"],
                   "steps": [{"stage": "swap"}, {"stage": "enhance"}, {"stage": "makeup", "params": {"look": "natural"}}]}
        response = client.post("/v1/jobs", data={"options": json.dumps(options)},
                               files=[("image", ("model.jpg", photo, "image/jpeg"))])
        assert response.status_code == 202, response.text
        job = wait_until(client, f"/v1/jobs/{response.json()['id']}", lambda j: j["status"] in FINISHED, "the job")
        assert job["status"] == "succeeded", job["error"]
        assert [s["stage"] for s in job["steps"]] == ["swapper", "enhancer", "makeup"]
        assert [e["stage"] for e in job["engines"]] == ["identity", "swapper", "enhancer", "makeup"]
        assert job["engines"][0]["demo"] is True  # the demo generator's face travels into the result's licence
        result = httpx.get(job["result"]["url"], timeout=30)  # presigned by the S3 server
        assert result.status_code == 200 and Image.open(io.BytesIO(result.content)).size == (256, 256)
        jobs = [job["id"]]
        pipeline_s = time.monotonic() - started - ready_s - casting_s

        # ---- a batch, and a kill -9 of the swapper in the middle of a step ---------------------------
        options = {"virtual_model_id": models[-1]["id"], "steps": [{"stage": "swap"}]}
        images = [("image", (f"p{i}.jpg", jpeg(np.ascontiguousarray(skdata.astronaut()[:, ::(1 if i % 2 else -1)]),
                                                 256 + 16 * i), "image/jpeg")) for i in range(3)]
        response = client.post("/v1/jobs", data={"options": json.dumps(options)}, files=images)
        assert response.status_code == 202, response.text
        batch = response.json()
        batch_ids = [j["id"] for j in batch["jobs"]]
        assert len(batch_ids) == 3

        def swapping(listing: dict):
            return [j for j in listing["data"] if j["steps"][0]["status"] == "running"]

        running = wait_until(client, f"/v1/jobs?batch_id={batch['batch_id']}", swapping, "a swap step to start",
                             interval_s=0.02)
        workers["swapper"].kill()  # SIGKILL inside the stage function: nothing committed
        killed_at = time.monotonic()
        interrupted = swapping(running)[0]["id"]
        replacement_port = servers.free_port()
        replacement = spawn_facecast("worker", "swapper", env={**env, "FACECAST_WORKER_PORT": str(replacement_port)})
        for job_id in batch_ids:
            finished = wait_until(client, f"/v1/jobs/{job_id}", lambda j: j["status"] in FINISHED, f"job {job_id}")
            assert finished["status"] == "succeeded", finished["error"]
        recovered_s = time.monotonic() - killed_at
        jobs += batch_ids

        swap = client.get(f"/v1/jobs/{interrupted}").json()["steps"][0]
        assert swap["report"]["engine"] == "classical"
        elapsed_ms = (datetime.fromisoformat(swap["finished_at"]) -
                      datetime.fromisoformat(swap["started_at"])).total_seconds() * 1000
        assert abs(swap["duration_ms"] + swap["wait_ms"] - elapsed_ms) < 5
        log = [json.loads(line) for line in replacement.log().splitlines() if interrupted in line]
        redone = [e for e in log if e["msg"] == "step done"]
        if redone:  # the usual case: the replacement ran the step again
            # its own work is reported apart from the time the step waited for the group to recover
            assert swap["duration_ms"] == pytest.approx(redone[0]["work_ms"], abs=0.01)
            assert swap["wait_ms"] > 1_000 and swap["duration_ms"] < swap["wait_ms"] + 30_000, swap
        else:  # the kill came after the outputs were stored, before the offset commit: forwarded, not rerun
            assert [e["msg"] for e in log] == ["step already done by an earlier delivery; forwarded"], log

        # ---- exactly one result per step and one job.succeeded webhook per job -------------------------
        keys = store.list_keys("tenants/")
        for job_id in jobs:
            names = [k.rsplit("/", 1)[1] for k in keys if f"/jobs/{job_id}/" in k]
            steps = client.get(f"/v1/jobs/{job_id}").json()["steps"]
            for step in steps:
                mine = sorted(n for n in names if n.startswith(f"{step['number']}-"))
                assert len(mine) == 2 and mine[1] == f"{step['number']}-{step['stage']}.outcome.json", names
            assert len([n for n in names if n.startswith("result.")]) == 1, names
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            delivered = Counter(json.loads(r["body"])["data"]["id"] for r in receiver.accepted())
            if set(delivered) >= set(jobs):
                break
            time.sleep(0.2)
        time.sleep(1.0)  # a duplicate delivery would arrive now
        accepted = receiver.accepted()
        delivered = Counter(json.loads(r["body"])["data"]["id"] for r in accepted)
        assert delivered == Counter({job_id: 1 for job_id in jobs}), delivered
        assert all(json.loads(r["body"])["type"] == "job.succeeded" for r in accepted)
        assert all(verify_standard_webhook(secret, r["headers"], r["body"]) for r in accepted)

    # every process logged JSON only, with one line per event naming its job and trace
    for spawned in (gateway, *workers.values(), replacement):
        for line in spawned.log().splitlines():
            assert line.startswith("{"), f"{spawned.args}: non-JSON log line {line[:200]!r}"
    step_lines = [json.loads(line) for line in replacement.log().splitlines() if '"msg": "step done"' in line]
    assert step_lines and {e["job_id"] for e in step_lines} <= set(batch_ids)
    assert all(len(e["trace_id"]) == 32 and e["stage"] == "swapper" for e in step_lines)
    print(f"\nready {ready_s:.1f} s, casting + accepts {casting_s:.1f} s, swap/enhance/makeup {pipeline_s:.1f} s, "
          f"recovery after kill -9 {recovered_s:.1f} s, total {time.monotonic() - started:.1f} s")
