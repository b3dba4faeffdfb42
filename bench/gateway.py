"""Gateway throughput and latency on PostgreSQL (loopback): job submissions per second, and p50/p99
of `POST /v1/jobs` and `GET /v1/jobs/{id}`.

Starts `facecast gateway` as its own process on a fresh PostgreSQL database (in-process bus, local
store: the API and the database are what is measured; no stage runs, jobs stay queued), creates a
tenant without rate limits, then a load generator in a second process sends multipart submissions
(one 64×64 PNG, one step) and then GETs of the created jobs, with C keep-alive connections in flight.
The generator writes prepared request bytes on raw sockets (like wrk): it shares the two cores with the
gateway, so what it spends is taken from the figure being measured.
Prints a table; the targets are ≥ 500 submissions/s and p99 < 50 ms for GET on the 2-core machine.

    python bench/gateway.py [--posts 3000] [--gets 5000] [--concurrency 16] [--pg postgresql://postgres@127.0.0.1:5432]
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def png() -> bytes:
    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


class KeepAliveConnection:
    """One HTTP/1.1 keep-alive connection that sends prepared request bytes and reads the answer: a
    load generator this lean leaves the shared CPUs to the gateway under test (httpx costs more CPU per
    request than the gateway's own handler does)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> "KeepAliveConnection":
        return cls(*await asyncio.open_connection(host, port))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise SystemExit(f"the gateway answered without a Content-Length: {head!r}")
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def prepared_requests(host: str, token: str, image: bytes, options: str) -> tuple[bytes, bytes]:
    """The multipart submission (one PNG, one step) and the GET template, as bytes on the wire."""
    boundary = secrets.token_hex(16)
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"options\"\r\n\r\n{options}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode()
    common = f"Host: {host}\r\nAuthorization: Bearer {token}\r\n"
    post = (f"POST /v1/jobs HTTP/1.1\r\n{common}Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    get = f"GET /v1/jobs/{{}} HTTP/1.1\r\n{common}\r\n".encode()
    return post, get


async def _load(host: str, port: int, token: str, posts: int, gets: int, concurrency: int, get_concurrency: int,
                gateway_pid: int) -> dict:
    post_request, get_template = prepared_requests(f"{host}:{port}", token, png(),
                                                   json.dumps({"steps": [{"stage": "enhance", "params": {}}]}))
    probe = await KeepAliveConnection.open(host, port)
    status, body = await probe.send(post_request)
    probe.close()
    if status != 202:
        raise SystemExit(f"submission failed: {status} {body[:500]!r}")
    job_ids: list[str] = []
    post_latency: list[float] = []
    get_latency: list[float] = []
    errors: dict[int, int] = {}

    async def one_post(connection: KeepAliveConnection, _: int) -> None:
        started = time.perf_counter()
        status, body = await connection.send(post_request)
        post_latency.append(time.perf_counter() - started)
        if status == 202:
            job_ids.append(json.loads(body)["id"])
        else:
            errors[status] = errors.get(status, 0) + 1

    async def one_get(connection: KeepAliveConnection, i: int) -> None:
        started = time.perf_counter()
        status, _ = await connection.send(get_template.replace(b"{}", job_ids[i % len(job_ids)].encode()))
        get_latency.append(time.perf_counter() - started)
        if status != 200:
            errors[status] = errors.get(status, 0) + 1

    async def run(count: int, work, in_flight: int) -> float:
        queue = iter(range(count))
        connections = [await KeepAliveConnection.open(host, port) for _ in range(in_flight)]

        async def worker(connection: KeepAliveConnection):
            for i in queue:
                await work(connection, i)

        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in connections))
        elapsed = time.perf_counter() - started
        for connection in connections:
            connection.close()
        return elapsed

    cpu_start = cpu_seconds(gateway_pid)
    post_s = await run(posts, one_post, concurrency)
    await asyncio.sleep(1.0)  # let the outbox relay finish publishing what the submissions queued
    cpu_posts = cpu_seconds(gateway_pid)
    get_s = await run(gets, one_get, get_concurrency)
    cpu_gets = cpu_seconds(gateway_pid)
    return {"posts": posts, "post_s": post_s, "post_latency": post_latency, "gets": gets, "get_s": get_s,
            "get_latency": get_latency, "errors": errors, "post_cpu_s": cpu_posts - cpu_start,
            "get_cpu_s": cpu_gets - cpu_posts, "loader_cpu_s": time.process_time()}


def load_process(host: str, port: int, token: str, posts: int, gets: int, concurrency: int, get_concurrency: int,
                 gateway_pid: int, out) -> None:
    out.send(asyncio.run(_load(host, port, token, posts, gets, concurrency, get_concurrency, gateway_pid)))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (from /proc; `--workers` forks them): a cost
    figure that other load on the machine does not distort the way it distorts wall-clock rates."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, (ppid, _) in stats.items() if ppid == parent and p not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(stats[p][1] for p in tree if p in stats) / os.sysconf("SC_CLK_TCK")


def facecast(*args: str, env: dict, **kwargs):
    script = Path(sys.executable).parent / "facecast"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "services.cli"]
    return subprocess.Popen([*command, *args], env=env, cwd=REPO, **kwargs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--gets", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16, help="submissions in flight")
    parser.add_argument("--get-concurrency", type=int, default=4, help="GETs in flight (a latency measure)")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--workers", type=int, default=os.cpu_count(),
                        help="gateway processes (`facecast gateway --workers`; default one per core)")
    args = parser.parse_args()

    import asyncpg
    import httpx

    database = f"facecast_bench_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(f"{args.pg}/postgres")
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{database}"'))
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="facecast-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACECAST_")}
    env.update({"FACECAST_DATABASE_URL": f"{args.pg.replace('postgresql://', 'postgresql+asyncpg://')}/{database}",
                "FACECAST_DATA_DIR": data_dir, "FACECAST_PORT": str(port),
                "FACECAST_PUBLIC_URL": f"http://127.0.0.1:{port}", "PYTHONPATH": str(REPO)})
    gateway = None
    try:
        created = subprocess.run([*facecast_cmd(), "tenants", "create", "bench", "--rate-limit", "1000000",
                                  "--max-active-jobs", "100000000"], env=env, capture_output=True, text=True,
                                 check=True, cwd=REPO).stdout
        token = next(word for word in created.split() if word.startswith("fck_"))
        gateway = facecast("gateway", "--log-level", "WARNING", "--workers", str(args.workers), env=env,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or gateway.poll() is not None:
                raise SystemExit(f"the gateway did not start: {gateway.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        receive, send = get_context("spawn").Pipe(duplex=False)
        loader = get_context("spawn").Process(target=load_process, args=(
            "127.0.0.1", port, token, args.posts, args.gets, args.concurrency, args.get_concurrency,
            gateway.pid, send))
        loader.start()
        result = receive.recv()
        loader.join()
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(30)
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))

    post_ms = [v * 1000 for v in result["post_latency"]]
    get_ms = [v * 1000 for v in result["get_latency"]]
    load = os.getloadavg()[0]
    print(f"gateway on PostgreSQL (loopback), {os.cpu_count()} CPUs (load average {load:.1f} at the end), "
          "load generator in a second process")
    print(f"{'operation':<28}{'in flight':>10}{'requests':>10}{'per s':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
          f"{'gateway CPU ms/req':>20}{'= req/s per core':>18}")
    for name, flight, count, seconds, latency, cpu in (
            ("POST /v1/jobs (multipart)", args.concurrency, result["posts"], result["post_s"], post_ms,
             result["post_cpu_s"]),
            ("GET /v1/jobs/{id}", args.get_concurrency, result["gets"], result["get_s"], get_ms, result["get_cpu_s"])):
        per_request_ms = cpu / count * 1000
        print(f"{name:<28}{flight:>10}{count:>10}{count / seconds:>8.0f}{statistics.median(latency):>8.1f}"
              f"{percentile(latency, 99):>8.1f}{max(latency):>8.1f}{per_request_ms:>20.2f}{1000 / per_request_ms:>18.0f}")
    print(f"load generator CPU: {result['loader_cpu_s'] / (result['posts'] + result['gets']) * 1000:.2f} ms per request")
    print(f"non-2xx answers: {result['errors'] or 'none'}")
    print("targets: >= 500 submissions/s; GET p99 < 50 ms")
    return 0


def facecast_cmd() -> list[str]:
    script = Path(sys.executable).parent / "facecast"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "services.cli"]


if __name__ == "__main__":
    sys.exit(main())
