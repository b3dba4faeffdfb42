"""One settings model for every process, read from `FACECAST_*` environment variables.

The defaults are the embedded mode: in-process bus, local folder store, SQLite, all under `data_dir`.
Setting `FACECAST_BUS=kafka`, `FACECAST_STORE_BACKEND=s3` and a PostgreSQL `FACECAST_DATABASE_URL`
runs the same services as separate processes on real servers. README lists every variable.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACECAST_", extra="ignore")

    # where the embedded default keeps everything
    data_dir: Path = Path("var")
    public_url: str = "http://127.0.0.1:8000"
    # HMAC key of the local store's presigned URLs; empty: a random key kept in data_dir/signing-keys.json
    signing_key: str = Field(default="", description="HMAC key for local presigned URLs (empty: generated)")
    allow_dev_signing_key: bool = False  # development only: accept a published or short FACECAST_SIGNING_KEY

    # event bus
    bus: Literal["memory", "kafka"] = "memory"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_session_timeout_ms: int = 10_000
    kafka_max_message_bytes: int = 1_048_576
    # How long the broker may hold a fetch when no record is there. Kafka answers as soon as one arrives, so
    # a long wait adds no latency there and keeps an idle consumer at ~2 fetches/s; Tansu (local script,
    # tests) answers only after the wait, so set 10-50 ms on it (README: the trade).
    kafka_fetch_max_wait_ms: int = 500

    # object store
    store_backend: Literal["local", "s3"] = "local"
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str = "facecast"
    s3_secret_key: str = ""  # no default: a published secret protects nothing
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    s3_bucket: str = "facecast"
    s3_public_endpoint: str = ""  # host:port that shops' browsers reach, for presigned URLs; empty = s3_endpoint

    # model store: a local folder, or a bucket on the S3 server above
    model_store: Literal["local", "s3"] = "local"
    model_dir: Path = Path("var/models")
    model_bucket: str = "facecast-models"
    model_cache_dir: Path = Path("var/model-cache")
    # engines (shared/engines.py): where they run and how many loaded engines a process keeps
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA for the engines that support it, when present
    fp16: bool = True  # half precision on CUDA for the engines that support it
    engine_cache_size: int = Field(default=4, ge=1)  # loaded engines kept per process, least recently used evicted
    # ONNX engines (shared/onnx_runner.py) on CUDA: the TensorRT execution provider in front of CUDA, and where
    # it keeps the engines it builds (one build per model and GPU, reused at every start)
    onnx_tensorrt: bool = False
    onnx_trt_cache_dir: Path = Path("var/trt-cache")

    # database (gateway only)
    database_url: str = ""  # empty: sqlite under data_dir

    # worker runtime
    max_attempts: int = 3
    retry_backoff_s: float = 0.5
    retry_backoff_max_s: float = 30.0
    worker_concurrency: int = 1
    batch_max: int = 1
    batch_wait_ms: int = 20
    worker_port: int = 0  # /healthz, /readyz, /metrics; 0 = no HTTP server
    # a step that runs longer fails with `time-budget-exceeded`; stage_time_budgets_s overrides per stage
    stage_time_budget_s: float = 300.0
    stage_time_budgets_s: dict[str, float] = Field(default_factory=dict)
    # bus keys one tenant's stage requests spread over (Kafka: at most that many partitions per tenant)
    tenant_partitions: int = Field(default=1, ge=1)

    # stages beyond the four services, as name → "module:attribute" (JSON); the backbone tests use it
    extra_stages: dict[str, str] = Field(default_factory=dict)

    # limits
    generator_max_candidates: int = 32  # faces per casting request
    max_pixels: int = 40_000_000
    max_upload_bytes: int = 50_000_000
    max_json_body_bytes: int = 1_000_000  # any non-multipart request body (job options, castings, …); 413 beyond

    # gateway
    host: str = "127.0.0.1"
    port: int = 8000
    bootstrap_api_key: str = Field(default="", description="`facecast serve`: use this key for the local tenant")
    presign_expires_s: int = 3600
    max_batch_images: int = 100
    retention_days: int = 7  # per-tenant default; results and inputs are swept after it
    sweep_interval_s: float = 600.0
    orphan_grace_s: float = 3600.0  # an object no row refers to is removed once it is this old
    idempotency_ttl_s: int = 86_400
    rate_limit_per_s: float = 50.0  # per tenant, token bucket; tenants may have their own
    rate_limit_burst: int = 200
    auth_failures_per_min: float = 10.0  # failed API-key authentications per client address, after the burst
    auth_failure_burst: int = 20
    # proxies whose X-Forwarded-For / X-Forwarded-Proto the gateway believes (comma-separated IPs or CIDRs,
    # `*` for any); empty: none, so the client address (rate limits, failed-authentication limit) is the peer's
    trusted_proxies: str = Field(default="", description="addresses whose X-Forwarded-For is trusted (empty: none)")
    max_active_jobs: int = 1_000  # queued + running per tenant; tenants may have their own
    outbox_poll_s: float = 0.5
    # a queued or running job without any progress for this long fails with `job-deadline-exceeded`
    job_deadline_s: float = 7200.0
    # how long a request waits for a stage step it runs for itself (a virtual model's `prepare` at accept or
    # import, a category's `fit`) before answering 503
    internal_step_timeout_s: float = 120.0
    # outbound HTTP (webhooks, image URLs): SSRF guard
    allow_http_urls: bool = False  # local development only
    netguard_allow_networks: list[str] = Field(default_factory=list, description="CIDRs exempt from the guard (dev/tests)")
    fetch_timeout_s: float = 15.0
    webhook_timeout_s: float = 15.0
    webhook_retry_schedule_s: list[float] = Field(
        default_factory=lambda: [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400])
    webhook_secret_overlap_s: int = 86_400  # a rotated-out secret keeps signing this long
    webhook_progress_interval_s: float = 5.0  # job.progress webhooks: at most one per job per interval
    webhook_concurrency: int = 8

    # swap realism (shared/faces/realism.py): a swapped face missing a bar is reported with a warning
    realism_tone_gap_max: float = 5.0  # ΔE76 change of the cheek−neck colour relation
    realism_sharpness_min: float = 0.6  # Laplacian variance of the face, result / original
    realism_sharpness_max: float = 1.8
    realism_seam_excess_max: float = 3.0  # CIEDE2000 along the paste outline above the photo's own edge
    realism_skin_colour_max: float = 5.0  # ΔE76 of the face skin's a*b* at equal lightness, result vs original
    realism_teeth_added_max: float = 0.03  # share of the mouth that became teeth-like
    realism_dark_patches_max: float = 0.03  # share of forehead + cheeks that became markedly darker

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'facecast.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
