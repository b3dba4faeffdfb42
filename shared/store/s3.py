"""S3 / MinIO object store on the `minio` SDK.

Every object carries its sha256 and the caller's metadata as user metadata (`x-amz-meta-*`), so `head`
answers without reading the body. Presigned GET URLs come from the SDK; presigned PUT URLs come from
boto3, because the minio SDK cannot sign the Content-Type header into a presigned PUT (the uploader
must then send exactly the content type the URL was made for).
"""
from __future__ import annotations

import io
import logging
import threading
from typing import Any

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from shared.errors import ConfigError, FaceCastError, InvalidInput, NotFound, TransientError
from shared.events import ObjectRef
from shared.store import StoreAuthError, sha256_hex, validate_key

logger = logging.getLogger("facecast.store.s3")
SHA_META = "sha256"
_AUTH_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
               "AuthorizationHeaderMalformed"}
_MISSING_CODES = {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}


def _http_client(timeout_s: float) -> urllib3.PoolManager:
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=min(5.0, timeout_s), read=timeout_s), maxsize=32,
        retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]))


class S3Store:
    def __init__(self, client: Minio, bucket: str, *, endpoint: str, access_key: str, secret_key: str,
                 secure: bool = False, region: str = "us-east-1", public_endpoint: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self._endpoint = endpoint
        self._access_key = access_key
        self._secret_key = secret_key
        self._secure = secure
        self._region = region
        self._public_endpoint = public_endpoint or endpoint  # the host presigned URLs are signed for
        self._boto = None
        self._boto_lock = threading.Lock()

    @classmethod
    def connect(cls, endpoint: str, access_key: str, secret_key: str, bucket: str, *, secure: bool = False,
                region: str = "us-east-1", create_bucket: bool = True, timeout_s: float = 30.0,
                public_endpoint: str = "") -> "S3Store":
        client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region,
                       http_client=_http_client(timeout_s))
        store = cls(client, bucket, endpoint=endpoint, access_key=access_key, secret_key=secret_key, secure=secure,
                    region=region, public_endpoint=public_endpoint)
        store._check_bucket(create_bucket)
        return store

    @classmethod
    def from_settings(cls, settings, bucket: str | None = None) -> "S3Store":
        """The store for `bucket` (default `settings.s3_bucket`) on the configured server; the bucket is
        created when it does not exist. Wrong credentials fail here, with StoreAuthError; there is no default
        secret to fall back on."""
        if not settings.s3_secret_key:
            raise ConfigError("FACECAST_S3_SECRET_KEY is empty: set the secret key of the S3 server "
                              f"{settings.s3_endpoint} (there is no default)")
        return cls.connect(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key,
                           bucket or settings.s3_bucket, secure=settings.s3_secure, region=settings.s3_region,
                           public_endpoint=settings.s3_public_endpoint)

    # ---- errors ------------------------------------------------------------------------------
    def _translate(self, exc: Exception, key: str | None = None) -> FaceCastError:
        where = f"s3://{self.bucket}/{key}" if key else f"bucket {self.bucket!r}"
        if isinstance(exc, S3Error):
            if exc.code in _MISSING_CODES:
                return NotFound(f"object {key!r} does not exist")
            if exc.code in _AUTH_CODES:
                return StoreAuthError(f"the S3 server at {self._endpoint} refused the credentials for access key "
                                      f"{self._access_key!r} ({exc.code}) on {where}")
            if exc.code == "NoSuchBucket":
                return FaceCastError(f"bucket {self.bucket!r} does not exist on {self._endpoint}")
            return TransientError(f"S3 error {exc.code} on {where}: {exc.message}")
        return TransientError(f"S3 server at {self._endpoint} failed on {where}: {type(exc).__name__}: {exc}")

    def _check_bucket(self, create: bool) -> None:
        try:
            if self.client.bucket_exists(self.bucket):
                return
            if not create:
                raise FaceCastError(f"bucket {self.bucket!r} does not exist on {self._endpoint}")
            try:
                self.client.make_bucket(self.bucket, location=self._region)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
        except ValueError as exc:  # the SDK checks names before sending anything
            raise InvalidInput(f"invalid bucket name {self.bucket!r}: {exc}") from exc
        except (S3Error, MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            # a HEAD on a bucket answers 403 with no body to bad credentials; minio reports it as AccessDenied
            raise self._translate(exc) from exc

    # ---- ObjectStore protocol ------------------------------------------------------------------
    def put(self, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None) -> ObjectRef:
        validate_key(key)
        ref = ObjectRef(key=key, content_type=content_type, sha256=sha256_hex(data), size=len(data))
        meta = {**(metadata or {}), SHA_META: ref.sha256}
        if not all(k.isascii() and str(v).isascii() for k, v in meta.items()):
            raise InvalidInput(f"object metadata must be ASCII: {sorted(meta)}")
        try:
            self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type,
                                   metadata=meta)
        except (S3Error, MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._translate(exc, key) from exc
        return ref

    def get_bytes(self, key: str) -> bytes:
        validate_key(key)
        response = None
        try:
            response = self.client.get_object(self.bucket, key)
            return response.read()
        except (S3Error, MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._translate(exc, key) from exc
        finally:
            if response is not None:
                response.close()
                response.release_conn()

    def _stat(self, key: str) -> Any | None:
        validate_key(key)
        try:
            return self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                return None
            raise self._translate(exc, key) from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._translate(exc, key) from exc

    def exists(self, key: str) -> bool:
        return self._stat(key) is not None

    @staticmethod
    def _user_metadata(stat) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in (stat.metadata or {}).items():
            lower = name.lower()
            if lower.startswith("x-amz-meta-"):
                out[lower[len("x-amz-meta-"):]] = value
        return out

    def head(self, key: str) -> ObjectRef | None:
        stat = self._stat(key)
        if stat is None:
            return None
        digest = self._user_metadata(stat).get(SHA_META)
        if not digest:  # uploaded by someone else (a presigned PUT): hash the body once
            digest = sha256_hex(self.get_bytes(key))
        return ObjectRef(key=key, content_type=stat.content_type or "application/octet-stream", sha256=digest,
                         size=stat.size)

    def metadata(self, key: str) -> dict[str, str]:
        stat = self._stat(key)
        if stat is None:
            raise NotFound(f"object {key!r} does not exist")
        meta = self._user_metadata(stat)
        meta.pop(SHA_META, None)
        return meta

    def delete(self, key: str) -> None:
        validate_key(key)
        try:
            self.client.remove_object(self.bucket, key)
        except (S3Error, MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._translate(exc, key) from exc

    def list_keys(self, prefix: str) -> list[str]:
        try:
            return sorted(o.object_name for o in self.client.list_objects(self.bucket, prefix=prefix or None,
                                                                          recursive=True) if not o.is_dir)
        except (S3Error, MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._translate(exc, prefix) from exc

    def list_modified(self, prefix: str) -> list[tuple[str, float]]:
        try:
            return sorted((o.object_name, o.last_modified.timestamp()) for o in self.client.list_objects(
                self.bucket, prefix=prefix or None, recursive=True) if not o.is_dir)
        except (S3Error, MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._translate(exc, prefix) from exc

    def presign_get(self, key: str, expires_s: int = 3600) -> str:
        validate_key(key)
        return self._boto_client().generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s, HttpMethod="GET")

    def presign_put(self, key: str, content_type: str, expires_s: int = 3600) -> str:
        validate_key(key)
        return self._boto_client().generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=expires_s, HttpMethod="PUT")

    def _boto_client(self):
        """Signs presigned URLs offline, for the endpoint that the URL's user reaches."""
        with self._boto_lock:
            if self._boto is None:
                import boto3
                from botocore.config import Config

                scheme = "https" if self._secure else "http"
                self._boto = boto3.client(
                    "s3", endpoint_url=f"{scheme}://{self._public_endpoint}", aws_access_key_id=self._access_key,
                    aws_secret_access_key=self._secret_key, region_name=self._region,
                    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
            return self._boto
