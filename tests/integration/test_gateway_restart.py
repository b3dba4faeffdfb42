"""Kafka + S3 + PostgreSQL: a gateway SIGKILLed or SIGTERMed in the middle of a batch loses no job
(issue 14, item 2). The requests are in Kafka and the state in PostgreSQL, so the restarted gateway
folds the events it missed; every job ends with its true outcome, finished steps are not computed
again, and the tenant's quota is free again."""
from __future__ import annotations

import json
import signal
import threading
import time

import httpx
import pytest

from shared.ids import random_hex
from tests.integration import servers
from tests.integration.test_gateway_postgres import STAGES, base_url, create_tenant, photo, start_workers, wait_ready

pytestmark = pytest.mark.integration
BATCH = 12


@pytest.fixture
def own_broker():
    """A broker of this test's own: earlier tests' killed gateways stay members of the shared broker's
    `facecast-gateway` group until their sessions lapse, and their rebalances would hold this gateway's
    readiness back."""
    broker = servers.TansuBroker().start()
    yield broker
    broker.stop()


@pytest.fixture
def env(facecast_env, postgres_db, own_broker):
    port = servers.free_port()
    return facecast_env(bucket=f"restart-{random_hex(8)}", database_url=postgres_db.url,
                        FACECAST_KAFKA_BOOTSTRAP=own_broker.bootstrap,
                        FACECAST_EXTRA_STAGES=STAGES, FACECAST_PORT=port,
                        FACECAST_PUBLIC_URL=f"http://127.0.0.1:{port}", FACECAST_OUTBOX_POLL_S="0.2",
                        FACECAST_MAX_ATTEMPTS="3", FACECAST_RETRY_BACKOFF_S="0.05",
                        FACECAST_MAX_ACTIVE_JOBS=str(BATCH + 1))


def follow(url: str, token: str, job_id: str) -> None:
    """Read a job's SSE stream until the server ends it (or goes away)."""
    try:
        with httpx.stream("GET", f"{url}/v1/jobs/{job_id}/events", headers={"Authorization": f"Bearer {token}"},
                          timeout=120) as stream:
            for _ in stream.iter_lines():
                pass
    except httpx.HTTPError:
        pass


def statuses(client: httpx.Client, ids: list[str]) -> list[dict]:
    return [client.get(f"/v1/jobs/{i}").json() for i in ids]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_a_gateway_restarted_mid_batch_finishes_every_job(env, spawn_facecast, sig):
    start_workers(spawn_facecast, env)
    gateway = spawn_facecast("gateway", env=env)
    token = create_tenant(env)
    wait_ready(env, gateway)
    client = httpx.Client(base_url=base_url(env), headers={"Authorization": f"Bearer {token}"}, timeout=30)
    options = {"steps": [{"stage": "invert", "params": {"sleep_s": 0.3}}, {"stage": "invert2"}]}
    files = [("image", (f"p{i}.png", photo(), "image/png")) for i in range(BATCH)]
    response = client.post("/v1/jobs", data={"options": json.dumps(options)}, files=files)
    assert response.status_code == 202, response.text
    ids = [job["id"] for job in response.json()["jobs"]]
    # a client follows a long job (last in the queue) over SSE: the stream must not hold the stop
    slow_steps = {"steps": [{"stage": "invert", "params": {"sleep_s": 60}}]}
    slow = client.post("/v1/jobs", data={"options": json.dumps(slow_steps)},
                       files=[("image", ("s.png", photo(), "image/png"))])
    assert slow.status_code == 202, slow.text
    threading.Thread(target=follow, args=(base_url(env), token, slow.json()["id"]), daemon=True).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jobs = statuses(client, ids)
        if sum(j["status"] == "succeeded" for j in jobs) >= 2:
            break
        time.sleep(0.1)
    before = {j["id"]: j for j in jobs}
    assert sum(j["status"] in ("queued", "running") for j in jobs) >= BATCH // 2, [j["status"] for j in jobs]
    gateway.proc.send_signal(sig)
    gateway.proc.wait(30)  # SIGTERM: open streams get 10 s
    restarted = spawn_facecast("gateway", env=env)
    wait_ready(env, restarted)
    assert client.post(f"/v1/jobs/{slow.json()['id']}:cancel").status_code == 200  # not worth the wait
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        jobs = statuses(client, ids)
        if all(j["status"] in ("succeeded", "failed", "canceled") for j in jobs):
            break
        time.sleep(0.3)
    assert [j["status"] for j in jobs] == ["succeeded"] * BATCH
    for job in jobs:
        for number, step in enumerate(before[job["id"]]["steps"]):
            if step["status"] == "succeeded":  # finished before the restart: not computed again
                assert job["steps"][number]["finished_at"] == step["finished_at"]
    again = client.post("/v1/jobs", data={"options": json.dumps(options)}, files=files)
    assert again.status_code == 202, again.text  # the quota counts only unfinished jobs
