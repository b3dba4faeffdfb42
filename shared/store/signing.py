"""Signing keys of the local store's presigned URLs (`/v1/objects/...`).

Anyone who knows the key can read and write any object, so no key has a published default: on first start a
random key is generated and kept in `<data_dir>/signing-keys.json` (mode 0600). Rotation makes a new key
current; a retired key keeps verifying the URLs it signed until they expire (no URL lives longer than
`MAX_URL_LIFETIME_S`), then it is dropped. `FACECAST_SIGNING_KEY` may name a key instead (at least 32
characters); the key published in old READMEs is refused unless `FACECAST_ALLOW_DEV_SIGNING_KEY` is set.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from shared.errors import ConfigError

KEY_FILE = "signing-keys.json"
MAX_URL_LIFETIME_S = 7 * 24 * 3600  # S3's longest presign; webhook result URLs use it
MIN_KEY_CHARS = 32
# keys that were printed in this project's README or examples: knowing them is knowing nothing secret
PUBLISHED_KEYS = frozenset({"dev-only-change-me", "dev-only", "change-me"})


@dataclass(frozen=True)
class SigningKey:
    id: str
    secret: bytes
    retired_at: float | None = None  # unix time; None for the current key

    def verifies(self, expires: int) -> bool:
        """A retired key signed only URLs that expire within the longest lifetime after its retirement."""
        return self.retired_at is None or expires <= self.retired_at + MAX_URL_LIFETIME_S


class SigningKeys:
    """The current key (signs) and the retired ones still inside their URLs' lifetime (verify only)."""

    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys or keys[0].retired_at is not None:
            raise ConfigError("a signing key ring needs a current key first")
        self.keys = keys

    @property
    def current(self) -> SigningKey:
        return self.keys[0]

    def verifying(self, expires: int) -> list[SigningKey]:
        return [key for key in self.keys if key.verifies(expires)]

    def ring(self) -> "SigningKeys":
        return self

    @classmethod
    def single(cls, secret: str | bytes) -> "SigningKeys":
        raw = secret.encode() if isinstance(secret, str) else secret
        return cls([SigningKey(id=hashlib.sha256(raw).hexdigest()[:8], secret=raw)])


def _new_key() -> dict:
    return {"id": secrets.token_hex(4), "secret": secrets.token_hex(32), "created_at": time.time(),
            "retired_at": None}


def _parse(path: Path, raw: dict, now: float) -> SigningKeys:
    try:
        entries = raw["keys"]
        keys = [SigningKey(id=str(e["id"]), secret=bytes.fromhex(e["secret"]), retired_at=e.get("retired_at"))
                for e in entries]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: not a signing key file ({type(exc).__name__}: {exc}); move it away to have "
                          "a new key generated (outstanding presigned URLs then stop working)") from None
    live = [k for k in keys if k.retired_at is None or k.retired_at + MAX_URL_LIFETIME_S > now]
    return SigningKeys(live)


def _write_private(path: Path, body: dict, replace: bool) -> bool:
    """Write `body` as a 0600 file; `replace=False` writes only if no file exists (two processes starting at
    once agree on the first one's key). False when another process won that race."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(body, fh, indent=2)
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # atomic, and fails if the file exists
            return True
        except FileExistsError:
            return False
        except OSError:  # a filesystem without hard links: exclusive create (a crash may leave it empty)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as fh:
                json.dump(body, fh, indent=2)
            return True
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create(path: Path, now: float | None = None) -> SigningKeys:
    """The key ring kept at `path`, generated (mode 0600) on first use."""
    now = time.time() if now is None else now
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _write_private(path, {"keys": [_new_key()]}, replace=False)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by other users (mode {mode:o}); `chmod 600 {path}`, and rotate "
                          "the key if anyone else may have read it")
    return _parse(path, json.loads(path.read_text()), now)


def rotate(path: Path, now: float | None = None) -> SigningKey:
    """Make a new current key; the previous one verifies its URLs until they expire. Returns the new key."""
    now = time.time() if now is None else now
    load_or_create(path, now)
    raw = json.loads(path.read_text())
    fresh = _new_key()
    kept = []
    for entry in raw["keys"]:
        entry["retired_at"] = entry.get("retired_at") or now
        if entry["retired_at"] + MAX_URL_LIFETIME_S > now:
            kept.append(entry)
    _write_private(path, {"keys": [fresh, *kept]}, replace=True)
    return _parse(path, {"keys": [fresh]}, now).current


class KeyFile:
    """The key ring in a file, re-read when the file changes: `facecast signing-key rotate` takes effect in
    running gateways within `RECHECK_S`, without a restart (a job listing signs hundreds of URLs: one `stat`
    per second, not per signature)."""

    RECHECK_S = 1.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ring = load_or_create(path)
        self._stamp = self._stat()
        self._checked = time.monotonic()

    def _stat(self) -> tuple[int, int]:
        st = self.path.stat()
        return st.st_mtime_ns, st.st_ino

    def ring(self) -> SigningKeys:
        now = time.monotonic()
        if now - self._checked < self.RECHECK_S:
            return self._ring
        self._checked = now
        try:
            stamp = self._stat()
        except FileNotFoundError:
            raise ConfigError(f"the signing key file {self.path} was removed; restore it from backup, or restart "
                              "to generate a new key (outstanding presigned URLs then stop working)") from None
        if stamp != self._stamp:
            self._ring, self._stamp = load_or_create(self.path), stamp
        return self._ring


def key_file(settings) -> Path:
    return Path(settings.data_dir) / KEY_FILE


def signing_keys(settings) -> SigningKeys | KeyFile:
    """The keys a local store signs and verifies with, from settings: an explicit `FACECAST_SIGNING_KEY`
    (refused when published or short, unless `FACECAST_ALLOW_DEV_SIGNING_KEY`), else the key file."""
    explicit = settings.signing_key
    if not explicit:
        return KeyFile(key_file(settings))
    if not settings.allow_dev_signing_key:
        if explicit in PUBLISHED_KEYS:
            raise ConfigError(
                f"FACECAST_SIGNING_KEY is {explicit!r}, a published example: anyone could forge presigned URLs. "
                f"Unset it (a random key is then kept in {key_file(settings)}), or set "
                "FACECAST_ALLOW_DEV_SIGNING_KEY=true on a development machine")
        if len(explicit) < MIN_KEY_CHARS:
            raise ConfigError(f"FACECAST_SIGNING_KEY has {len(explicit)} characters; use at least {MIN_KEY_CHARS} "
                              f"random ones (`python -c 'import secrets; print(secrets.token_hex(32))'`), or unset "
                              f"it to use the generated key in {key_file(settings)}")
    return SigningKeys.single(explicit)
