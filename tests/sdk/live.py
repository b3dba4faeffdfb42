"""A live `facecast serve` for tests (free port, temporary data dir, known API key) and a webhook receiver."""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
TEST_IMAGES = ROOT / "tests" / "data" / "images"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    api_key: str
    data_dir: Path
    log: Path
    process: subprocess.Popen

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


@contextmanager
def facecast_serve(data_dir: Path, *, timeout_s: float = 120.0, env: dict[str, str] | None = None):
    """Start `facecast serve` in its own process; yields a LiveServer; stops it with SIGTERM."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api_key = f"fck_test{secrets.token_hex(4)}_{secrets.token_hex(24)}"
    full_env = {
        **os.environ,
        "FACECAST_DATA_DIR": str(data_dir),
        "FACECAST_HOST": "127.0.0.1",
        "FACECAST_PORT": str(port),
        "FACECAST_PUBLIC_URL": url,
        "FACECAST_BOOTSTRAP_API_KEY": api_key,
        # the webhook receiver of the tests listens on loopback over plain http
        "FACECAST_ALLOW_HTTP_URLS": "true",
        "FACECAST_NETGUARD_ALLOW_NETWORKS": '["127.0.0.0/8"]',
        "FACECAST_WORKER_CONCURRENCY": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
        **(env or {}),
    }
    log = data_dir / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "--log-level", "WARNING"],
                                   cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    server = LiveServer(url, api_key, data_dir, log, process)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"facecast serve exited with {process.returncode}:\n{server.log_tail()}")
            try:
                ready = httpx.get(f"{url}/readyz", timeout=2)
                if ready.status_code == 200 and httpx.get(f"{url}/v1/engines", timeout=5,
                                                          headers={"Authorization": f"Bearer {api_key}"}).is_success:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"facecast serve not ready after {timeout_s:.0f} s:\n{server.log_tail()}")
            time.sleep(0.25)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    url: str
    received: list[Received] = field(default_factory=list)
    condition: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, predicate, timeout_s: float = 60.0) -> Received:
        deadline = time.monotonic() + timeout_s
        with self.condition:
            while True:
                for item in self.received:
                    if predicate(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching webhook in {timeout_s:.0f} s; got "
                                       f"{[json.loads(r.body).get('type') for r in self.received]}")
                self.condition.wait(left)


@contextmanager
def webhook_receiver():
    """A real HTTP server on loopback that records every POST and answers 204."""
    port = free_port()
    receiver = WebhookReceiver(f"http://127.0.0.1:{port}/hooks")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with receiver.condition:
                receiver.received.append(Received({k: v for k, v in self.headers.items()}, body))
                receiver.condition.notify_all()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
