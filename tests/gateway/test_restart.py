"""A restart of the embedded default loses no job (issue 14, item 2).

The in-process bus dies with the process; the database is the truth. These tests stop one gateway with
work still on its bus and start another on the same data folder (in this process, fast); the
subprocess tests below SIGKILL and SIGTERM a real `facecast serve` in the middle of a batch.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from services.gateway.db.models import Job
from services.gateway.domain.tenants import create_tenant
from services.gateway.watchdog import DEADLINE_CODE
from shared.ids import utcnow
from shared.store import cancel_marker_key
from tests.gateway.conftest import TEST_STAGES, Api, Harness, gateway_settings, png_bytes
from tests.integration.conftest import REPO_ROOT, facecast_executable

TWO_STEPS = {"options": json.dumps({"steps": [{"stage": "invert"}, {"stage": "invert2"}]})}


def polite(client: httpx.Client, method: str, url: str, **kwargs) -> httpx.Response:
    """One request as a well-behaved client sends it: a 429 (the tenant's rate limit, hit by the polls on a slow
    machine) waits as Retry-After says and asks again."""
    for _ in range(50):
        response = client.request(method, url, **kwargs)
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers.get("Retry-After", "0.5")))
    raise AssertionError(f"{method} {url}: still rate-limited after 50 tries")


def job_view(client: httpx.Client, job_id: str) -> dict:
    response = polite(client, "GET", f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def photo(seed: int = 0):
    return [("image", ("p.png", png_bytes(seed=seed), "image/png"))]


class Started:
    """A harness whose lifespan this test ends itself (a restart is: stop one, start another)."""

    def __init__(self, tmp_path, stages: list[str], **overrides) -> None:
        self.harness = Harness(gateway_settings(tmp_path, **overrides), stages)
        self.context = self.harness.app.router.lifespan_context(self.harness.app)

    async def __aenter__(self) -> Harness:
        await self.context.__aenter__()
        return self.harness

    async def __aexit__(self, *exc) -> None:
        await self.context.__aexit__(None, None, None)


async def wait_for(predicate, what: str, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := await predicate():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_jobs_left_on_the_bus_of_a_stopped_gateway_run_after_the_restart(tmp_path):
    async with Started(tmp_path, stages=["invert"]) as first:  # no invert2 worker: step 2 never runs here
        tenant, token = await create_tenant(first.gw.sessionmaker, "shop", max_active_jobs=3)
        api = Api(first.app, token, tenant.id)
        ids = [(await api.post("/v1/jobs", data=TWO_STEPS, files=photo(i))).json()["id"] for i in range(3)]

        async def step_one_done():
            jobs = [(await api.get(f"/v1/jobs/{i}")).json() for i in ids]
            return jobs if all(j["steps"][0]["status"] == "succeeded" for j in jobs) else None
        before = await step_one_done() or await wait_for(step_one_done, "step 1 of every job")
        assert {j["status"] for j in before} == {"running"}
        full = await api.post("/v1/jobs", data=TWO_STEPS, files=photo(9))
        assert full.status_code == 429  # the three unfinished jobs fill the quota
        async with first.gw.reader() as session:  # the process stayed down for three hours
            await session.execute(update(Job).where(Job.id.in_(ids)).values(
                updated_at=utcnow() - timedelta(hours=3)))
    # an outage is not a stall: the jobs resume instead of failing past the deadline
    async with Started(tmp_path, stages=list(TEST_STAGES), job_deadline_s=3600) as second:
        api = Api(second.app, token, tenant.id)
        after = [await api.wait_job(i) for i in ids]
        assert [j["status"] for j in after] == ["succeeded"] * 3
        for old, new in zip(before, after):  # step 1 was forwarded from its outcome record, not run again
            assert new["steps"][0]["finished_at"] == old["steps"][0]["finished_at"]
            assert new["steps"][0]["outputs"]["image"]["sha256"] == old["steps"][0]["outputs"]["image"]["sha256"]
        assert (await api.post("/v1/jobs", data=TWO_STEPS, files=photo(9))).status_code == 202  # quota free again


async def test_a_job_without_progress_past_the_deadline_fails_with_the_reason(tmp_path):
    async with Started(tmp_path, stages=["invert"], job_deadline_s=0.4) as gw:  # nobody runs invert2
        tenant, token = await create_tenant(gw.gw.sessionmaker, "shop", max_active_jobs=1)
        api = Api(gw.app, token, tenant.id)
        job_id = (await api.post("/v1/jobs", data=TWO_STEPS, files=photo())).json()["id"]
        job = await api.wait_job(job_id, timeout_s=10)
        assert job["status"] == "failed"
        assert job["error"]["code"] == DEADLINE_CODE and job["error"]["stage"] == "invert2"
        assert "no progress for 0.4 s" in job["error"]["message"] and "step 2 (invert2)" in job["error"]["message"]
        assert [s["status"] for s in job["steps"]] == ["succeeded", "failed"]
        assert gw.gw.store.exists(cancel_marker_key(tenant.id, job_id))  # a late request is skipped by the stages
        await asyncio.sleep(gw.gw.active_jobs.ttl_s)  # the quota's count is re-read at most this often
        assert (await api.post("/v1/jobs", data=TWO_STEPS, files=photo(1))).status_code == 202  # slot freed
        async with gw.gw.reader() as session:
            row = await session.get(Job, job_id)
        assert row.finished_at is not None


# ---- a real `facecast serve`, killed or stopped in the middle of a batch ------------------------------
def _serve(tmp_path, port: int, log_name: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACECAST_")}
    env.update({"FACECAST_DATA_DIR": str(tmp_path / "data"), "FACECAST_MODEL_DIR": str(tmp_path / "data" / "models"),
                "FACECAST_EXTRA_STAGES": json.dumps(TEST_STAGES), "FACECAST_PORT": str(port),
                "FACECAST_BOOTSTRAP_API_KEY": BOOTSTRAP_KEY, "FACECAST_MAX_ACTIVE_JOBS": "22",
                "FACECAST_OUTBOX_POLL_S": "0.1",
                "PYTHONPATH": str(REPO_ROOT)})
    log = open(tmp_path / log_name, "wb")
    return subprocess.Popen([*facecast_executable(), "serve"], env=env, cwd=REPO_ROOT, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


BOOTSTRAP_KEY = "fck_restarttest_" + "a" * 32


def _follow(port: int, job_id: str) -> None:
    """Read a job's SSE stream until the server ends it (or goes away)."""
    try:
        with _client(port) as client, client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=120) as stream:
            for _ in stream.iter_lines():
                pass
    except httpx.HTTPError:
        pass


def _client(port: int) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {BOOTSTRAP_KEY}"},
                        timeout=30)


def _wait_up(proc: subprocess.Popen, client: httpx.Client, log, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"facecast serve exited {proc.returncode}:\n{log()[-3000:]}"
        try:
            if client.get("/v1/jobs", params={"limit": 1}).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"facecast serve never answered:\n{log()[-3000:]}")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_serve_killed_or_stopped_mid_batch_finishes_every_job_after_a_restart(tmp_path, sig):
    from tests.integration import servers

    port = servers.free_port()
    client = _client(port)
    procs = [_serve(tmp_path, port, "serve-1.log")]
    log = lambda: "".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob("serve-*.log")))  # noqa: E731
    try:
        _wait_up(procs[0], client, log)
        steps = [{"stage": "invert", "params": {"sleep_s": 0.3}}, {"stage": "invert2"}]
        response = client.post("/v1/jobs", data={"options": json.dumps({"steps": steps})},
                               files=[("image", (f"p{i}.png", png_bytes(seed=i), "image/png")) for i in range(20)])
        assert response.status_code == 202, response.text
        ids = [job["id"] for job in response.json()["jobs"]]
        doomed = client.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "boom"}]})},
                             files=[("image", ("b.png", png_bytes(seed=50), "image/png"))])
        assert doomed.status_code == 202, doomed.text
        # a client follows a long job (last in the queue) over SSE: the stream must not hold the stop
        slow = client.post("/v1/jobs", data={"options": json.dumps({"steps": [
            {"stage": "invert", "params": {"sleep_s": 60}}]})}, files=[("image", ("s.png", png_bytes(), "image/png"))])
        assert slow.status_code == 202, slow.text
        follower = threading.Thread(target=_follow, args=(port, slow.json()["id"]), daemon=True)
        follower.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # stop it with some jobs done, some running, most queued
            jobs = [job_view(client, i) for i in ids]
            if sum(j["status"] == "succeeded" for j in jobs) >= 2:
                break
            time.sleep(0.1)
        before = {j["id"]: j for j in jobs}
        assert sum(j["status"] in ("queued", "running") for j in jobs) >= 10, [j["status"] for j in jobs]
        procs[0].send_signal(sig)
        procs[0].wait(35)  # SIGTERM: open streams get 10 s, the steps in flight 10 s more
        if sig == signal.SIGTERM:  # a clean stop (uvicorn then re-raises the signal: the exit status says SIGTERM)
            assert procs[0].returncode in (0, -signal.SIGTERM) and "gateway stopped" in log(), log()[-3000:]
        procs.append(_serve(tmp_path, port, "serve-2.log"))
        _wait_up(procs[1], client, log)
        assert polite(client, "POST", f"/v1/jobs/{slow.json()['id']}:cancel").status_code == 200  # not worth the wait
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            jobs = [job_view(client, i) for i in ids]
            if all(j["status"] in ("succeeded", "failed", "canceled") for j in jobs):
                break
            time.sleep(0.2)
        assert [j["status"] for j in jobs] == ["succeeded"] * 20, log()[-3000:]
        failed = job_view(client, doomed.json()["id"])  # its true outcome, whenever it ran
        deadline = time.monotonic() + 30
        while failed["status"] not in ("succeeded", "failed", "canceled") and time.monotonic() < deadline:
            time.sleep(0.2)
            failed = job_view(client, doomed.json()["id"])
        assert failed["status"] == "failed" and "the test stage always fails" in failed["error"]["message"], failed
        for job in jobs:
            old = before[job["id"]]
            for number in (0, 1):  # a step that had finished was not computed again
                if old["steps"][number]["status"] == "succeeded":
                    assert job["steps"][number]["finished_at"] == old["steps"][number]["finished_at"]
        again = polite(client, "POST", "/v1/jobs", data={"options": json.dumps({"steps": steps[1:]})},
                        files=[("image", (f"q{i}.png", png_bytes(seed=30 + i), "image/png")) for i in range(20)])
        assert again.status_code == 202, again.text  # the tenant's slots are free again
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        client.close()
