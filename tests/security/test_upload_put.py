"""Review of issue 14: an upload is written once (a second PUT cannot change the bytes jobs were checked
against), and a presigned PUT's signature is checked before the upload is looked up (one answer to a junk
signature, whether or not the upload exists)."""
from __future__ import annotations

import hashlib
import time

from tests.security.conftest import png_bytes


async def test_a_second_put_to_an_upload_is_409_and_its_jobs_keep_working(api, harness):
    upload = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    anonymous = harness.anonymous()
    first = png_bytes(seed=4)
    assert (await anonymous.put(upload["url"], content=first, headers=upload["headers"])).status_code == 200
    job = (await api.post("/v1/jobs", json={"steps": [{"stage": "invert", "params": {"sleep_s": 0.3}}],
                                            "images": [{"upload_id": upload["id"]}]})).json()
    again = await anonymous.put(upload["url"], content=png_bytes(seed=5), headers=upload["headers"])
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "upload-already-written"
    assert upload["id"] in again.json()["detail"] and "POST /v1/uploads" in again.json()["detail"]
    fresh_url = (await api.get(f"/v1/uploads/{upload['id']}")).json()  # a fresh URL does not reopen it
    assert (await anonymous.put(fresh_url["url"], content=png_bytes(seed=6),
                                headers=upload["headers"])).status_code == 409
    assert hashlib.sha256(harness.gw.store.get_bytes(upload["key"])).digest() == hashlib.sha256(first).digest()
    assert (await api.wait_job(job["id"]))["status"] == "succeeded"
    later = (await api.post("/v1/jobs", json={"steps": [{"stage": "invert"}],
                                              "images": [{"upload_id": upload["id"]}]})).json()
    assert (await api.wait_job(later["id"]))["status"] == "succeeded"


async def test_a_refused_put_leaves_the_upload_writable(api, harness):
    upload = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    anonymous = harness.anonymous()
    assert (await anonymous.put(upload["url"], content=b"not an image", headers=upload["headers"])).status_code == 415
    assert (await anonymous.put(upload["url"], content=png_bytes(), headers=upload["headers"])).status_code == 200


async def test_a_junk_signature_gets_one_answer_whether_or_not_the_upload_exists(api, harness):
    upload = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    expires = int(time.time()) + 600
    junk = "0" * 64
    keys = [upload["key"],  # reserved, no content yet
            upload["key"].replace(upload["id"], "upl_doesnotexist"),  # no such upload
            f"tenants/{api.tenant_id}/models/vm_x/portrait.png"]  # not an upload at all
    anonymous = harness.anonymous()
    answers = []
    for key in keys:
        for content_type in ("image/png", "image/jpeg"):
            answer = await anonymous.put(f"/v1/objects/{key}?expires={expires}&signature={junk}", content=png_bytes(),
                                         headers={"content-type": content_type})
            body = answer.json()
            answers.append((answer.status_code, body["code"], body["detail"].replace(key, "KEY")))
    assert len(set(answers)) == 1 and answers[0][0] == 404, answers
    # written content: the same answer still
    assert (await anonymous.put(upload["url"], content=png_bytes(), headers=upload["headers"])).status_code == 200
    again = await anonymous.put(f"/v1/objects/{upload['key']}?expires={expires}&signature={junk}",
                                content=png_bytes(), headers=upload["headers"])
    assert again.status_code == 404 and again.json()["code"] == answers[0][1]


async def test_two_puts_at_once_write_one_image(api, harness):
    import asyncio

    upload = (await api.post("/v1/uploads", json={"content_type": "image/png"})).json()
    anonymous = harness.anonymous()
    first, second = png_bytes(seed=7), png_bytes(seed=8)

    async def slowly(data: bytes):
        for start in range(0, len(data), 256):
            await asyncio.sleep(0.005)
            yield data[start:start + 256]

    answers = await asyncio.gather(
        anonymous.put(upload["url"], content=slowly(first), headers=upload["headers"]),
        anonymous.put(upload["url"], content=slowly(second), headers=upload["headers"]))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    written = first if answers[0].status_code == 200 else second
    assert harness.gw.store.get_bytes(upload["key"]) == written
