"""Per-hop overhead of the event path, with a no-op stage: publish → consume → store get → run →
store put (image + outcome record) → forward (the `completed` event) → the caller sees it.

Runs N jobs of 1 and of 3 no-op steps one after another (latency, not throughput) on
- the embedded default: in-process bus + local folder store, worker in the same process;
- Kafka + S3: a Tansu broker and a JuiceFS S3 gateway started here on free loopback ports, the worker
  as its own process (`facecast worker tests.backbone.stages:NOOP`), as in production.
It also times the parts (bus round trip, store put/get/stat) so a slow hop can be explained.
Prints a table; the target is a p50 under 15 ms per hop on Kafka + S3.

    python bench/bus.py [--jobs 1000] [--hops 1,3] [--backends memory,kafka-s3] [--worker process|inprocess]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from shared.bus.kafka import KafkaBus  # noqa: E402
from shared.bus.memory import MemoryBus  # noqa: E402
from shared.events import JOB_EVENTS_TOPIC, JobEvent, JobEventKind, StageRequest, Step, requests_topic  # noqa: E402
from shared.ids import random_hex  # noqa: E402
from shared.images import encode_image  # noqa: E402
from shared.runtime import StageWorker  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.stage import StageContext  # noqa: E402
from shared.store import job_object_key  # noqa: E402
from shared.store.local import LocalStore  # noqa: E402
from shared.store.s3 import S3Store  # noqa: E402
from shared.weights import ModelStore  # noqa: E402
from tests.backbone.stages import NOOP  # noqa: E402
from tests.integration import servers  # noqa: E402

TENANT = "bench"
SESSION_MS = 3000


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def row(name: str, values_s: list[float], per: int = 1) -> dict:
    ms = [v * 1000 / per for v in values_s]
    return {"name": name, "n": len(ms), "p50": pct(ms, 50), "p90": pct(ms, 90), "p99": pct(ms, 99),
            "mean": statistics.fmean(ms), "max": max(ms)}


async def run_jobs(bus, store, jobs: int, hops: int, warmup: int, pixels: np.ndarray,
                   on_measure=lambda: None) -> list[float]:
    """Latency of each job after `warmup` jobs; `on_measure` is called when the measured jobs begin."""
    consumer = await bus.subscribe([JOB_EVENTS_TOPIC], f"bench-{random_hex(8)}")
    png = encode_image(pixels)
    latencies: list[float] = []
    try:
        for i in range(warmup + jobs):
            if i == warmup:
                on_measure()
            job_id = random_hex(32)
            image = store.put(job_object_key(TENANT, job_id, 0, "upload", "png"), png, "image/png")
            request = StageRequest(job_id=job_id, tenant_id=TENANT, image=image,
                                   steps=[Step(number=n + 1, stage="noop") for n in range(hops)])
            body = request.model_dump_json().encode()
            started = time.perf_counter()
            await bus.publish(requests_topic("noop"), body, key=job_id)
            deadline = time.monotonic() + 60
            done = None
            while done is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"job {i} did not complete within 60 s")
                for d in await consumer.getmany(max_records=100, timeout_ms=1000):
                    event = JobEvent.model_validate_json(d.value)
                    if event.job_id == job_id and event.kind != JobEventKind.progress:
                        if event.kind != JobEventKind.completed:
                            raise RuntimeError(f"job failed: {event.error}")
                        done = time.perf_counter()
            if i >= warmup:
                latencies.append(done - started)
        return latencies
    finally:
        await consumer.close()


async def parts(bus, store, n: int = 200) -> list[dict]:
    """Bus round trip (publish → consume of one record) and store operations, each alone."""
    topic = f"bench.rt.{random_hex(8)}"
    consumer = await bus.subscribe([topic], f"bench-rt-{random_hex(8)}")
    await bus.publish(topic, b"warm", key="k")
    while not await consumer.getmany(max_records=10, timeout_ms=1000):
        pass
    rt, put, get, stat = [], [], [], []
    data = encode_image(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    for i in range(n):
        t = time.perf_counter()
        await bus.publish(topic, b"x" * 2000, key="k")
        while not await consumer.getmany(max_records=10, timeout_ms=1000):
            pass
        rt.append(time.perf_counter() - t)
        key = f"tenants/{TENANT}/parts/{i}.png"
        t = time.perf_counter()
        await asyncio.to_thread(store.put, key, data, "image/png")
        put.append(time.perf_counter() - t)
        t = time.perf_counter()
        await asyncio.to_thread(store.get_bytes, key)
        get.append(time.perf_counter() - t)
        t = time.perf_counter()
        await asyncio.to_thread(store.exists, key + ".missing")
        stat.append(time.perf_counter() - t)
    await consumer.close()
    return [row("  bus publish→consume (2 KB)", rt), row(f"  store put ({len(data) // 1024} KB png)", put),
            row("  store get", get), row("  store stat (missing)", stat)]


async def bench_memory(args, pixels) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="facecast-bench-") as tmp:
        bus, store = MemoryBus(), LocalStore(Path(tmp) / "objects")
        settings = Settings(data_dir=Path(tmp))
        worker = StageWorker(NOOP, bus, store, StageContext(settings, ModelStore(root=Path(tmp) / "models")))
        task = asyncio.create_task(worker.run())
        try:
            rows = []
            for hops in args.hops:
                lat = await run_jobs(bus, store, args.jobs, hops, args.warmup, pixels)
                rows.append(row(f"memory + local, {hops} hop(s)/job: per hop", lat, hops))
            return [*rows, *await parts(bus, store)]
        finally:
            worker.request_stop()
            await task


async def bench_kafka_s3(args, pixels) -> list[dict]:
    broker = servers.TansuBroker().start()
    s3 = servers.JuiceFSGateway().start()
    bucket = "bench"
    worker_proc = None
    try:
        bus = KafkaBus(broker.bootstrap, session_timeout_ms=SESSION_MS, fetch_max_wait_ms=args.fetch_wait_ms)
        await bus.start()
        store = S3Store.connect(s3.endpoint, s3.access_key, s3.secret_key, bucket)
        task = worker = None
        if args.worker == "process":
            env = {**os.environ, **servers.server_env(broker, s3, bucket, Path(tempfile.mkdtemp()), None, SESSION_MS),
                   "PYTHONPATH": str(REPO), "FACECAST_KAFKA_FETCH_MAX_WAIT_MS": str(args.fetch_wait_ms)}
            exe = Path(sys.executable).parent / "facecast"
            cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "services.cli"]
            worker_proc = subprocess.Popen([*cmd, "worker", "tests.backbone.stages:NOOP"], env=env, cwd=REPO,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        else:
            wbus = KafkaBus(broker.bootstrap, session_timeout_ms=SESSION_MS, fetch_max_wait_ms=args.fetch_wait_ms)
            await wbus.start()
            settings = Settings(data_dir=Path(tempfile.mkdtemp()))
            worker = StageWorker(NOOP, wbus, store, StageContext(settings, ModelStore(root=Path("/nonexistent"))))
            task = asyncio.create_task(worker.run())
        try:
            pids = {"broker": broker.proc.pid, "s3 server": s3.proc.pid, "this process": os.getpid()}
            if worker_proc is not None:
                pids["worker"] = worker_proc.pid
            rows, notes = [], []
            for hops in args.hops:
                before: dict[str, float] = {}
                lat = await run_jobs(bus, store, args.jobs, hops, args.warmup, pixels, on_measure=lambda: before.update(
                    {name: cpu_seconds(pid) for name, pid in pids.items()}))
                used = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
                total_hops = args.jobs * hops
                rows.append(row(f"kafka + s3, {hops} hop(s)/job: per hop", lat, hops))
                cpu_line = ", ".join(f"{name} {1000 * sec / total_hops:.2f}" for name, sec in used.items())
                notes.append({"note": f"{hops} hop(s)/job, CPU ms per hop: {cpu_line} "
                                      f"(total {1000 * sum(used.values()) / total_hops:.2f})"})
            rows += [*await parts(bus, store), *notes]
        finally:
            if worker is not None:
                worker.request_stop()
                await task
                await wbus.stop()
            await bus.stop()
        return rows
    finally:
        if worker_proc is not None:
            worker_proc.terminate()
            try:
                _, err = worker_proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                worker_proc.kill()
                _, err = worker_proc.communicate()
            if worker_proc.returncode not in (0, -15):
                sys.stderr.write(err.decode(errors="replace")[-3000:])
        s3.stop()
        broker.stop()


def print_table(rows: list[dict], title: str) -> None:
    print(f"\n{title}")
    header = f"{'path':<44} {'n':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8}"
    print(header)
    print("-" * len(header))
    for r in rows:
        if "note" in r:
            print(f"  {r['note']}")
            continue
        print(f"{r['name']:<44} {r['n']:>5} {r['p50']:>8.2f} {r['p90']:>8.2f} {r['p99']:>8.2f} {r['mean']:>8.2f} "
              f"{r['max']:>8.2f}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--hops", default="1,3",
                        help="no-op steps per job, comma-separated runs (per-hop figures divide the job's time by it; "
                             "1 hop includes the caller's own consume of the completed event)")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--backends", default="memory,kafka-s3")
    parser.add_argument("--worker", choices=["process", "inprocess"], default="process",
                        help="Kafka+S3: run the worker as its own process (default) or in this event loop")
    parser.add_argument("--fetch-wait-ms", type=int, default=10,
                        help="consumer fetch_max_wait_ms (Tansu answers a fetch only after it)")
    args = parser.parse_args()
    args.hops = [int(h) for h in str(args.hops).split(",") if h]
    pixels = np.random.default_rng(0).integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
    rows: list[dict] = []
    for backend in args.backends.split(","):
        if backend == "memory":
            rows += await bench_memory(args, pixels)
        elif backend == "kafka-s3":
            rows += await bench_kafka_s3(args, pixels)
        else:
            raise SystemExit(f"unknown backend {backend!r}")
    print_table(rows, f"FaceCast event path, no-op stage, {args.size}x{args.size} PNG, {args.jobs} jobs one at a time "
                      f"(cpus: {os.cpu_count()}, worker: {args.worker}, fetch_max_wait_ms: {args.fetch_wait_ms})")
    try:
        print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    except OSError:
        pass
    for r in rows:
        if r.get("name", "").startswith("kafka"):
            verdict = "meets" if r["p50"] < 15 else "MISSES"
            print(f"{r['name']}: p50 {r['p50']:.2f} ms {verdict} the 15 ms target")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
