"""Local-folder object store for the embedded default.

Writes go to a temporary file then `os.replace`, so a crash never leaves half an object under a real
key. Presigned URLs are HMAC-signed paths that the gateway serves (`/v1/objects/...`), signed with the
current key of a `SigningKeys` ring and verified with any key still inside its URLs' lifetime (signing.py).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from urllib.parse import quote

from shared.errors import InvalidInput, NotFound
from shared.events import ObjectRef
from shared.store import sha256_hex, validate_key
from shared.store.signing import MAX_URL_LIFETIME_S, KeyFile, SigningKeys


class LocalStore:
    def __init__(self, root: Path | str, signing_key: str | SigningKeys | KeyFile | None = None,
                 public_url: str = "http://127.0.0.1:8000"):
        """`signing_key`: the key ring (or one key) for presigned URLs; None: a random key of this instance
        (a store that never hands out URLs, such as a worker's, needs no shared key)."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        if signing_key is None:
            signing_key = secrets.token_hex(32)
        self.signing_keys = (signing_key if isinstance(signing_key, (SigningKeys, KeyFile))
                             else SigningKeys.single(signing_key))
        self._public_url = public_url.rstrip("/")

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def put(self, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None) -> ObjectRef:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        ref = ObjectRef(key=key, content_type=content_type, sha256=sha256_hex(data), size=len(data))
        if not all(k.isascii() and str(v).isascii() for k, v in (metadata or {}).items()):
            raise InvalidInput(f"object metadata must be ASCII: {sorted(metadata or {})}")
        sidecar = path.with_name(f".{path.name}.meta.json")
        meta = {"content_type": content_type, "sha256": ref.sha256,
                "metadata": {k.lower(): v for k, v in (metadata or {}).items()}}
        self._atomic_write(sidecar, json.dumps(meta).encode())
        self._atomic_write(path, data)
        return ref

    @staticmethod
    def _atomic_write(path: Path, data: bytes) -> None:
        # unique per writer: two threads writing the same key (a redelivered event) must not collide
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):  # a folder is not an object
            raise NotFound(f"object {key!r} does not exist") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def head(self, key: str) -> ObjectRef | None:
        path = self._path(key)
        if not path.is_file():
            return None
        sidecar = path.with_name(f".{path.name}.meta.json")
        meta = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
        data = path.read_bytes()
        return ObjectRef(key=key, content_type=meta.get("content_type", "application/octet-stream"),
                         sha256=sha256_hex(data), size=len(data))

    def metadata(self, key: str) -> dict[str, str]:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"object {key!r} does not exist")
        sidecar = path.with_name(f".{path.name}.meta.json")
        return dict(json.loads(sidecar.read_text()).get("metadata", {})) if sidecar.is_file() else {}

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        path.with_name(f".{path.name}.meta.json").unlink(missing_ok=True)

    def list_keys(self, prefix: str) -> list[str]:
        keys = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def list_modified(self, prefix: str) -> list[tuple[str, float]]:
        found = []
        for key in self.list_keys(prefix):
            try:
                found.append((key, self._path(key).stat().st_mtime))
            except (FileNotFoundError, InvalidInput):  # deleted meanwhile, or a name no key can have
                continue
        return found

    # Presigned URLs: the gateway verifies these with `verify_signature`.
    @staticmethod
    def _signature(secret: bytes, method: str, key: str, expires: int, content_type: str = "") -> str:
        msg = f"{method}\n{key}\n{expires}\n{content_type}".encode()
        return hmac.new(secret, msg, hashlib.sha256).hexdigest()

    def _presign(self, method: str, key: str, expires_s: int, content_type: str = "") -> str:
        # no URL outlives MAX_URL_LIFETIME_S: that bound is what lets a rotated-out key be dropped
        expires = int(time.time()) + min(int(expires_s), MAX_URL_LIFETIME_S)
        secret = self.signing_keys.ring().current.secret
        sig = self._signature(secret, method, validate_key(key), expires, content_type)
        return f"{self._public_url}/v1/objects/{quote(key)}?expires={expires}&signature={sig}"

    def presign_get(self, key: str, expires_s: int = 3600) -> str:
        return self._presign("GET", key, expires_s)

    def presign_put(self, key: str, content_type: str, expires_s: int = 3600) -> str:
        return self._presign("PUT", key, expires_s, content_type)

    def verify_signature(self, method: str, key: str, expires: int, signature: str, content_type: str = "") -> None:
        """Accept a signature by the current key or by a retired key whose URLs may still be alive."""
        if expires < time.time():
            raise InvalidInput("the presigned URL has expired")
        content_type = content_type if method == "PUT" else ""
        valid = False
        for signing_key in self.signing_keys.ring().verifying(expires):
            expected = self._signature(signing_key.secret, method, key, expires, content_type)
            valid |= hmac.compare_digest(expected, signature)
        if not valid:
            raise NotFound(f"object {key!r} does not exist")
