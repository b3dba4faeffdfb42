"""Issue 14 item 1: presigned object URLs cannot be forged, the key is generated and kept private, it can be
rotated, and a presigned PUT writes only a reserved upload of its own tenant."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from services.gateway.embedded import build
from shared.errors import ConfigError
from shared.settings import Settings
from shared.store.local import LocalStore
from shared.store.signing import MAX_URL_LIFETIME_S, KeyFile, load_or_create, rotate
from tests.security.conftest import INVERT, photo, png_bytes

PUBLISHED = "dev-only-change-me"
ROOT = Path(__file__).resolve().parents[2]


def forge(secret: str, method: str, key: str, expires: int, content_type: str = "") -> str:
    """A signature as anyone who read the old README could compute it."""
    msg = f"{method}\n{key}\n{expires}\n{content_type}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


async def a_job_input(api) -> dict:
    job = (await api.post("/v1/jobs", data=INVERT, files=photo(3))).json()
    return (await api.wait_job(job["id"]))["input"]


async def test_first_start_generates_a_private_random_key_and_keeps_it(make_harness, tmp_path):
    harness = await make_harness()
    path = tmp_path / "signing-keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = json.loads(path.read_text())["keys"][0]["secret"]
    assert len(bytes.fromhex(secret)) == 32
    # the store signs with it, and a second start keeps it (URLs survive a restart)
    assert harness.gw.store.signing_keys.ring().current.secret == bytes.fromhex(secret)
    assert load_or_create(path).current.secret == bytes.fromhex(secret)


async def test_a_signature_made_with_the_published_default_is_refused(api, harness):
    ref = await a_job_input(api)
    expires = int(time.time()) + 600
    forged = f"/v1/objects/{ref['key']}?expires={expires}&signature={forge(PUBLISHED, 'GET', ref['key'], expires)}"
    anonymous = harness.anonymous()
    assert (await anonymous.get(forged)).status_code == 404
    genuine = await anonymous.get(ref["url"])
    assert genuine.status_code == 200 and hashlib.sha256(genuine.content).hexdigest() == ref["sha256"]


async def test_a_forged_put_cannot_overwrite_another_tenants_object(api, harness):
    ref = await a_job_input(api)
    expires = int(time.time()) + 600
    signature = forge(PUBLISHED, "PUT", ref["key"], expires, "image/png")
    answer = await harness.anonymous().put(f"/v1/objects/{ref['key']}?expires={expires}&signature={signature}",
                                           content=b"\x89PNG\r\n\x1a\n" + b"x" * 64,
                                           headers={"content-type": "image/png"})
    assert answer.status_code in (403, 404)
    assert hashlib.sha256(harness.gw.store.get_bytes(ref["key"])).hexdigest() == ref["sha256"]


def test_the_gateway_refuses_to_start_with_the_published_key(tmp_path):
    with pytest.raises(ConfigError, match="FACECAST_SIGNING_KEY"):
        build(Settings(data_dir=tmp_path, signing_key=PUBLISHED), stages=[])
    with pytest.raises(ConfigError, match="at least 32"):
        build(Settings(data_dir=tmp_path, signing_key="short-but-not-published"), stages=[])
    app, gw = build(Settings(data_dir=tmp_path, signing_key=PUBLISHED, allow_dev_signing_key=True), stages=[])
    assert gw.store.signing_keys.ring().current.secret == PUBLISHED.encode()


def test_the_command_says_why_it_will_not_start(tmp_path):
    env = {**os.environ, "FACECAST_DATA_DIR": str(tmp_path), "FACECAST_SIGNING_KEY": PUBLISHED}
    done = subprocess.run([sys.executable, "-m", "services.cli", "gateway", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2 and "FACECAST_SIGNING_KEY" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_a_url_for_one_key_never_opens_another(tmp_path):
    ours = LocalStore(tmp_path / "a", signing_key=KeyFile(tmp_path / "a-keys.json"))
    theirs = LocalStore(tmp_path / "b", signing_key=KeyFile(tmp_path / "b-keys.json"))
    key = "tenants/t1/jobs/j1/0-input.png"
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(ours.presign_get(key)).query))
    expires, signature = int(query["expires"]), query["signature"]
    ours.verify_signature("GET", key, expires, signature)
    with pytest.raises(Exception, match="does not exist"):
        theirs.verify_signature("GET", key, expires, signature)
    with pytest.raises(Exception, match="does not exist"):  # nor another object, nor another method
        ours.verify_signature("GET", "tenants/t2/jobs/j1/0-input.png", expires, signature)
    with pytest.raises(Exception, match="does not exist"):
        ours.verify_signature("PUT", key, expires, signature, "")


def test_rotation_keeps_old_urls_until_they_expire_and_no_longer(tmp_path):
    path = tmp_path / "signing-keys.json"
    store = LocalStore(tmp_path / "objects", signing_key=KeyFile(path))
    key = "tenants/t1/jobs/j1/0-input.png"
    old = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(store.presign_get(key, 3600)).query))
    old_key = store.signing_keys.ring().current
    new_key = rotate(path)
    store.signing_keys._checked -= KeyFile.RECHECK_S  # as a second later
    assert new_key.secret != old_key.secret and stat.S_IMODE(path.stat().st_mode) == 0o600
    # the running store picks the rotation up: new URLs are signed with the new key ...
    assert store.signing_keys.ring().current.id == new_key.id
    fresh = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(store.presign_get(key, 3600)).query))
    assert fresh["signature"] == forge_bytes(new_key.secret, "GET", key, int(fresh["expires"]))
    # ... and the URL made before still opens
    store.verify_signature("GET", key, int(old["expires"]), old["signature"])
    # a URL "signed" by the retired key that would outlive any URL it can have signed is refused
    late = int(time.time()) + MAX_URL_LIFETIME_S + 3600
    with pytest.raises(Exception, match="does not exist"):
        store.verify_signature("GET", key, late, forge_bytes(old_key.secret, "GET", key, late))
    # once every URL it signed has expired, the retired key is dropped from the file
    rotate(path, now=time.time() + MAX_URL_LIFETIME_S + 10)
    ids = [k["id"] for k in json.loads(path.read_text())["keys"]]
    assert old_key.id not in ids and new_key.id in ids


def forge_bytes(secret: bytes, method: str, key: str, expires: int, content_type: str = "") -> str:
    msg = f"{method}\n{key}\n{expires}\n{content_type}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def test_a_key_file_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "signing-keys.json"
    load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create(path)


async def test_put_outside_the_own_upload_is_refused_whatever_the_signature(api, harness):
    """Even with the gateway's real key (a leaked signature, a signing bug) a PUT writes only a reserved
    upload under its own tenant."""
    other = await harness.tenant("victim")
    victim_input = await a_job_input(other)
    store = harness.gw.store
    secret = store.signing_keys.ring().current.secret
    expires = int(time.time()) + 600
    png = b"\x89PNG\r\n\x1a\n" + b"y" * 64
    mine = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    targets = [victim_input["key"],  # another tenant's object
               f"tenants/{other.tenant_id}/models/vm_x/portrait.png",  # a portrait (not there yet)
               f"tenants/{api.tenant_id}/uploads/upl_notreserved.png",  # own prefix, but no reservation
               mine["key"].replace(api.tenant_id, other.tenant_id),  # own upload id under another tenant
               "outside/evil.png", "evil.png"]  # outside tenants/
    anonymous = harness.anonymous()
    for key in targets:
        signature = forge_bytes(secret, "PUT", key, expires, "image/png")
        answer = await anonymous.put(f"/v1/objects/{key}?expires={expires}&signature={signature}", content=png,
                                     headers={"content-type": "image/png"})
        assert answer.status_code == 403, (key, answer.text)
        assert answer.json()["code"] == "put-refused" and "reserved" in answer.json()["detail"]
    assert hashlib.sha256(store.get_bytes(victim_input["key"])).hexdigest() == victim_input["sha256"]
    assert not any(store.exists(k) for k in targets[1:])
    # the reserved upload itself still takes its PUT
    put = await anonymous.put(mine["url"], content=png_bytes(seed=9), headers=mine["headers"])
    assert put.status_code == 200, put.text


def test_facecast_signing_key_rotate(tmp_path, monkeypatch):
    from services.cli import main

    monkeypatch.setenv("FACECAST_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FACECAST_SIGNING_KEY", raising=False)
    first = load_or_create(tmp_path / "signing-keys.json").current
    assert main(["signing-key", "rotate"]) == 0
    keys = json.loads((tmp_path / "signing-keys.json").read_text())["keys"]
    assert [k["id"] for k in keys][1:] == [first.id] and keys[0]["retired_at"] is None
    assert keys[1]["retired_at"] is not None
