"""Session fixtures for tests on real servers (also imported by tests/backbone/conftest.py).

Reusable by any integration test:

- `tansu_broker` -> `servers.TansuBroker`: a Kafka-protocol broker; `.bootstrap` is "127.0.0.1:<port>".
- `s3_server` -> `servers.JuiceFSGateway`: an S3 server that checks signatures; `.endpoint`,
  `.access_key`, `.secret_key`, `.url`.
- `postgres_db` -> `servers.PostgresDatabase`: a fresh database `facecast_test_<random>` on
  127.0.0.1:5432, dropped at the end; `.url` (postgresql+asyncpg://…) and `.dsn`.
- `facecast_env(bucket=…, database_url=…)` -> dict of FACECAST_* variables (plus PYTHONPATH) that
  point a `facecast` subprocess at the servers above (Kafka bus, S3 store, session timeout 2 s).
- `spawn_facecast(*args, env=…)` -> starts `facecast <args>` as a subprocess of the test (its output
  goes to a log file under the test's tmp dir; the log's tail is printed if the test fails); every
  process still running at the end of the test is stopped (SIGTERM, then SIGKILL).

Each server is started once per pytest session, on free loopback ports, and stopped afterwards (the
two conftest files share one instance through `servers.acquire`). A missing server binary or an
unreachable PostgreSQL makes the fixture fail with a message; tests never skip themselves.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shared.ids import random_hex
from tests.integration import servers

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tansu_broker():
    broker = servers.acquire("tansu")
    yield broker
    servers.release("tansu")


@pytest.fixture(scope="session")
def s3_server():
    gateway = servers.acquire("s3")
    yield gateway
    servers.release("s3")


@pytest.fixture(scope="session")
def postgres_db():
    db = servers.acquire("postgres")
    yield db
    servers.release("postgres")


@pytest.fixture
def facecast_env(tansu_broker, s3_server, tmp_path):
    def make(bucket: str = "facecast-it", database_url: str | None = None, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACECAST_")}
        env.update(servers.server_env(tansu_broker, s3_server, bucket, tmp_path / "data", database_url))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        env.update({k: str(v) for k, v in extra.items()})
        return env

    return make


def facecast_executable() -> list[str]:
    script = Path(sys.executable).parent / "facecast"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "services.cli"]


class Spawned:
    def __init__(self, proc: subprocess.Popen, log_path: Path, args: tuple[str, ...]):
        self.proc = proc
        self.log_path = log_path
        self.args = args

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout_s: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture
def spawn_facecast(tmp_path, request):
    started: list[Spawned] = []

    def spawn(*args: str, env: dict[str, str]) -> Spawned:
        log_path = tmp_path / f"facecast-{len(started)}-{random_hex(6)}.log"
        log = open(log_path, "wb")
        proc = subprocess.Popen([*facecast_executable(), *args], env=env, cwd=REPO_ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        spawned = Spawned(proc, log_path, args)
        started.append(spawned)
        return spawned

    yield spawn
    for spawned in started:
        spawned.terminate()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for spawned in started:
            sys.stderr.write(f"\n--- facecast {' '.join(spawned.args)} (pid {spawned.pid}) ---\n{spawned.log()[-4000:]}")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
