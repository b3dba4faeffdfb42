"""The client's pure parts against httpx.MockTransport: retries, Retry-After, idempotency, SSE, webhooks,
and the folder run's resume logic against a small in-memory fake of the jobs API."""
from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import io
import json
import time

import httpx
import pytest
from PIL import Image

import facecast
from facecast import (APIError, AsyncFaceCast, FaceCast, RetryPolicy, WebhookVerificationError, build_steps,
                      iter_sse, parse_retry_after, result_urls, sign_webhook, verify_webhook)
from facecast.cli import MANIFEST, run_folder
from facecast.sse import aiter_sse

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def independent_signature(secret: str, msg_id: str, ts: str, body: bytes) -> str:
    key = base64.b64decode(secret.split("_", 1)[1])
    return "v1," + base64.b64encode(hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body,
                                             hashlib.sha256).digest()).decode()


# ------------------------------------------------------------------------------------- Retry-After
def test_parse_retry_after_seconds_date_and_garbage():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-3") == 0.0
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 42, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(42, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 100, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(backoff_base_s=0.5, backoff_max_s=4, jitter=False)
    assert [policy.delay(a) for a in range(1, 7)] == [0.5, 1, 2, 4, 4, 4]
    jittered = RetryPolicy(backoff_base_s=1, backoff_max_s=8)
    for attempt in range(1, 6):
        cap = min(8, 2 ** (attempt - 1))
        assert cap / 2 <= jittered.delay(attempt) <= cap


def make_client(handler, **kwargs):
    sleeps: list[float] = []
    client = FaceCast("fc_test_key", "http://api.test", transport=httpx.MockTransport(handler),
                      sleep=sleeps.append, **kwargs)
    return client, sleeps


def test_retries_429_and_5xx_honouring_retry_after_with_one_idempotency_key():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(429, headers={"Retry-After": "3"}, json={"title": "Too Many Requests"})
        if len(seen) == 2:
            return httpx.Response(503, json={"title": "Unavailable"})
        return httpx.Response(201, json={"id": "job_1", "status": "queued"})

    client, sleeps = make_client(handler, retry=RetryPolicy(backoff_base_s=0.5, jitter=False))
    job = client.request("POST", "/v1/jobs", json={"x": 1})
    assert job == {"id": "job_1", "status": "queued"}
    assert len(seen) == 3
    assert sleeps == [3.0, 1.0]  # Retry-After first, then the second step of the backoff
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(keys) == 1 and next(iter(keys))
    assert all(r.headers["Authorization"] == "Bearer fc_test_key" for r in seen)


def test_gives_up_after_max_retries_with_the_problem_document():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(502, headers={"content-type": "application/problem+json", "x-request-id": "req9"},
                              content=json.dumps({"type": "https://facecast.dev/problems/upstream",
                                                  "title": "Bad Gateway", "detail": "stage down"}))

    client, sleeps = make_client(handler, retry=RetryPolicy(max_retries=2, jitter=False))
    with pytest.raises(APIError) as info:
        client.get_job("job_x")
    assert len(calls) == 3 and len(sleeps) == 2
    err = info.value
    assert err.status == 502 and err.type.endswith("/upstream") and err.detail == "stage down"
    assert "req9" in str(err)


def test_client_errors_are_not_retried_and_connection_errors_are():
    calls = []

    def handler(request):
        calls.append(request.url.path)
        if request.url.path == "/v1/jobs/flaky" and calls.count("/v1/jobs/flaky") == 1:
            raise httpx.ConnectError("refused", request=request)
        if request.url.path == "/v1/jobs/flaky":
            return httpx.Response(200, json={"id": "flaky", "status": "running"})
        return httpx.Response(422, json={"title": "Unprocessable", "detail": [{"loc": ["steps"]}]})

    client, sleeps = make_client(handler)
    with pytest.raises(APIError) as info:
        client.request("POST", "/v1/jobs", json={})
    assert info.value.status == 422 and calls == ["/v1/jobs"] and sleeps == []
    assert client.get_job("flaky")["status"] == "running"
    assert calls.count("/v1/jobs/flaky") == 2 and len(sleeps) == 1


def test_presigned_urls_never_get_the_api_key():
    seen = {}

    def handler(request):
        seen[request.url.host] = request.headers.get("authorization")
        return httpx.Response(200, content=b"PNGDATA")

    client, _ = make_client(handler)
    assert client.fetch("http://objects.test/x.png?signature=abc") == b"PNGDATA"
    client.request("GET", "/v1/engines")
    assert seen == {"objects.test": None, "api.test": "Bearer fc_test_key"}


async def test_async_client_retries_and_sends_the_same_key():
    seen = []

    def handler(request):
        seen.append(request.headers.get("idempotency-key"))
        if len(seen) < 3:
            return httpx.Response(500)
        return httpx.Response(200, json={"jobs": [{"id": "a"}]})

    sleeps = []

    async def fake_sleep(s):
        sleeps.append(s)

    async with AsyncFaceCast("k", "http://api.test", transport=httpx.MockTransport(handler), sleep=fake_sleep,
                             retry=RetryPolicy(jitter=False)) as client:
        jobs = await client.create_jobs(["https://shop.test/p/1.jpg"], model="vm_1", steps="swap,enhance", scale=2)
    assert jobs == [{"id": "a"}]
    assert len(seen) == 3 and len(set(seen)) == 1 and seen[0].startswith("fc-")
    assert sleeps == [0.5, 1.0]


# ------------------------------------------------------------------------------------------ webhooks
def test_verify_webhook_accepts_an_independently_signed_message():
    body = json.dumps({"type": "job.succeeded", "data": {"id": "job_1"}}).encode()
    ts = str(int(time.time()))
    headers = {"Webhook-Id": "msg_1", "Webhook-Timestamp": ts,
               "Webhook-Signature": "v1,bm90LXRoaXMtb25l " + independent_signature(SECRET, "msg_1", ts, body)}
    assert verify_webhook(SECRET, headers, body) == {"type": "job.succeeded", "data": {"id": "job_1"}}
    assert sign_webhook(SECRET, "msg_1", ts, body) == independent_signature(SECRET, "msg_1", ts, body)


@pytest.mark.parametrize("change", ["body", "id", "timestamp_old", "timestamp_future", "secret", "missing", "version"])
def test_verify_webhook_rejects(change):
    body = b'{"type":"job.succeeded"}'
    ts = int(time.time())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(ts),
               "webhook-signature": independent_signature(SECRET, "msg_1", str(ts), body)}
    secret = SECRET
    if change == "body":
        body = b'{"type":"job.failed"}'
    elif change == "id":
        headers["webhook-id"] = "msg_2"
    elif change == "timestamp_old":
        headers["webhook-timestamp"] = str(ts - 301)
        headers["webhook-signature"] = independent_signature(SECRET, "msg_1", str(ts - 301), body)
    elif change == "timestamp_future":
        headers["webhook-timestamp"] = str(ts + 301)
        headers["webhook-signature"] = independent_signature(SECRET, "msg_1", str(ts + 301), body)
    elif change == "secret":
        secret = "whsec_" + base64.b64encode(b"another secret of 32 bytes......").decode()
    elif change == "missing":
        del headers["webhook-signature"]
    elif change == "version":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body)


def test_verify_webhook_during_rotation_accepts_either_secret():
    old = "whsec_" + base64.b64encode(b"old-secret-old-secret-old-secret").decode()
    body = b'{"ok":true}'
    ts = str(int(time.time()))
    headers = {"webhook-id": "m", "webhook-timestamp": ts, "webhook-signature": independent_signature(old, "m", ts, body)}
    assert verify_webhook([SECRET, old], headers, body) == {"ok": True}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, headers, body)


# ------------------------------------------------------------------------------------------- SSE, etc.
def test_iter_sse_parses_events_comments_multiline_and_ids():
    text = ": keep-alive\n\nevent: progress\nid: 3\ndata: {\"step\": 1,\ndata:  \"of\": 2}\n\ndata:plain\nretry: 1500\n\nevent: done\ndata: {}"
    events = list(iter_sse(text.split("\n")))
    assert [e.event for e in events] == ["progress", "message", "done"]
    assert events[0].json() == {"step": 1, "of": 2} and events[0].id == "3"
    assert events[1].data == "plain" and events[1].retry == 1500 and events[1].id == "3"
    assert events[2].json() == {}


def test_build_steps_and_result_urls():
    steps = build_steps("swap, enhance,makeup", scale=4, look="rose", intensity=0.6, makeup_reference="upl_1")
    assert steps == [{"stage": "swap", "params": {}}, {"stage": "enhance", "params": {"scale": 4}},
                     {"stage": "makeup", "params": {"look": "rose", "intensity": 0.6},
                      "inputs": {"reference": {"upload_id": "upl_1"}}}]
    with pytest.raises(Exception):
        build_steps("swap,blur")
    assert result_urls({"id": "j", "result": {"url": "http://x/r.png"}}) == [("j.png", "http://x/r.png")]
    assert result_urls({"id": "j", "result": {"key": "t/j/3-makeup.jpg", "url": "http://x/r?sig=1"}}) == [
        ("j.jpg", "http://x/r?sig=1")]
    assert result_urls({"id": "j", "status": "running"}) == []


# ----------------------------------------------------------------------------------- folder run, resume
def png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "PNG")
    return buf.getvalue()


class FakeAPI:
    """Jobs that succeed on the second poll; results are the input bytes reversed."""

    def __init__(self):
        self.jobs: dict[str, dict] = {}
        self.inputs: dict[str, bytes] = {}
        self.keys: dict[str, str] = {}
        self.polls: dict[str, int] = {}
        self.created = 0
        self.fail_names: set[str] = set()
        self.options: list[dict] = []
        self.uploads = 0
        self.put: dict[str, bytes] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/v1/jobs":
            key = request.headers["idempotency-key"]
            if key in self.keys:
                return httpx.Response(200, json={"jobs": [self.jobs[self.keys[key]]]})
            body = request.read()
            options = json.loads(body.split(b'name="options"\r\n\r\n')[1].split(b"\r\n--")[0])
            self.options.append(options)
            assert b'name="image"; filename="' in body
            name = body.split(b'filename="')[1].split(b'"')[0].decode()
            data = body.split(b"\r\n\r\n")[-1].rsplit(b"\r\n--", 1)[0]
            self.created += 1
            job_id = f"job_{self.created}"
            self.keys[key] = job_id
            self.inputs[job_id] = data
            self.jobs[job_id] = {"id": job_id, "status": "queued", "name": name}
            return httpx.Response(201, json={"jobs": [self.jobs[job_id]]})
        if request.method == "GET" and path.startswith("/v1/jobs/"):
            job_id = path.rsplit("/", 1)[1]
            job = self.jobs[job_id]
            self.polls[job_id] = self.polls.get(job_id, 0) + 1
            if self.polls[job_id] >= 2 and job["status"] == "queued":
                if job["name"] in self.fail_names:
                    job.update(status="failed", error={"code": "no-face-found", "message": "no face"})
                else:
                    job.update(status="succeeded", result={"url": f"http://objects.test/{job_id}.png"})
            return httpx.Response(200, json=job)
        if request.method == "POST" and path == "/v1/uploads":
            self.uploads += 1
            upload_id = f"upl_{self.uploads}"
            return httpx.Response(201, json={"id": upload_id, "key": f"t/uploads/{upload_id}.jpg", "method": "PUT",
                                             "url": f"http://objects.test/put/{upload_id}",
                                             "headers": {"Content-Type": json.loads(request.read())["content_type"]}})
        if request.method == "PUT" and request.url.host == "objects.test":
            assert "authorization" not in request.headers
            self.put[path.rsplit("/", 1)[1]] = request.read()
            return httpx.Response(200)
        if request.url.host == "objects.test":
            return httpx.Response(200, content=self.inputs[path.strip("/").removesuffix(".png")][::-1])
        return httpx.Response(404, json={"title": "Not Found"})


def test_run_folder_processes_then_resumes_and_retries_failures(tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    for i, color in enumerate(["red", "green", "blue"]):
        (photos / f"p{i}.png").write_bytes(png(color))
    (photos / "notes.txt").write_text("not a photo")
    api = FakeAPI()
    api.fail_names = {"p2.png"}
    client = FaceCast("k", "http://api.test", transport=httpx.MockTransport(api), sleep=lambda s: None)

    first = run_folder(client, photos, out, model="vm_1", steps="swap,enhance", scale=2, progress=False)
    assert [(o.photo, o.status) for o in first] == [("p0.png", "done"), ("p1.png", "done"), ("p2.png", "failed")]
    assert (out / "p0.png").read_bytes() == png("red")[::-1]
    assert api.created == 3
    assert api.options[0] == {"virtual_model_id": "vm_1",
                              "steps": [{"stage": "swap", "params": {}}, {"stage": "enhance", "params": {"scale": 2}}]}
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["photos"]["p2.png"]["status"] == "failed"

    api.fail_names = set()
    second = run_folder(client, photos, out, model="vm_1", steps="swap,enhance", scale=2, progress=False)
    assert [(o.photo, o.status) for o in second] == [("p0.png", "skipped"), ("p1.png", "skipped"), ("p2.png", "done")]
    assert api.created == 4  # only the failed photo was sent again, under a fresh idempotency key

    (photos / "p1.png").write_bytes(png("yellow"))  # a changed photo is processed again
    (out / "p0.png").unlink()  # and a deleted result is produced again
    third = run_folder(client, photos, out, model="vm_1", steps="swap,enhance", scale=2, progress=False)
    assert [(o.photo, o.status) for o in third] == [("p0.png", "done"), ("p1.png", "done"), ("p2.png", "skipped")]
    # p0 unchanged: same deterministic key → the server returns the existing job instead of a new one
    assert api.created == 5
    assert (out / "p1.png").read_bytes() == png("yellow")[::-1]


def test_run_folder_follows_jobs_submitted_before_a_crash(tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    (photos / "a.png").write_bytes(png("white"))
    api = FakeAPI()
    client = FaceCast("k", "http://api.test", transport=httpx.MockTransport(api), sleep=lambda s: None)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    client.wait = crash  # the run dies right after submitting
    with pytest.raises(KeyboardInterrupt):
        run_folder(client, photos, out, model="vm_1", steps="swap", progress=False)
    assert json.loads((out / MANIFEST).read_text())["photos"]["a.png"]["status"] == "submitted"
    del client.wait
    outcomes = run_folder(client, photos, out, model="vm_1", steps="swap", progress=False)
    assert [(o.status, o.job_id) for o in outcomes] == [("done", "job_1")]
    assert api.created == 1


def test_folders_are_read_one_file_at_a_time(tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(png((i * 80, 0, 0)))
    (tmp_path / ".hidden.png").write_bytes(png("black"))
    (tmp_path / "readme.md").write_text("x")
    from facecast import to_inputs
    inputs = to_inputs(tmp_path)
    assert [i.name for i in inputs] == ["0.png", "1.png", "2.png"]
    assert all(i.data is None and i.path is not None for i in inputs)  # nothing read yet
    loaded = inputs[1].loaded()
    assert loaded.data == png((80, 0, 0)) and loaded.sha256 == hashlib.sha256(loaded.data).hexdigest()
    assert loaded.content_type == "image/png"
    seen = []

    def handler(request):
        seen.append(request.headers["idempotency-key"])
        return httpx.Response(202, json={"id": f"job_{len(seen)}", "status": "queued"})

    client, _ = make_client(handler)
    jobs = client.create_jobs(tmp_path, model="vm", steps="swap")
    assert [j["id"] for j in jobs] == ["job_1", "job_2", "job_3"] and len(set(seen)) == 3
    assert client.create_jobs(tmp_path / "1.png", model="vm", steps="swap") and seen[-1] == seen[1]


def test_run_folder_with_a_makeup_reference_resumes_across_new_upload_ids(tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    (photos / "a.png").write_bytes(png("white"))
    reference = tmp_path / "ref.png"
    reference.write_bytes(png("purple"))
    api = FakeAPI()
    client = FaceCast("k", "http://api.test", transport=httpx.MockTransport(api), sleep=lambda s: None)
    first = run_folder(client, photos, out, model="vm_1", steps="swap,makeup", intensity=0.5, reference=reference,
                       progress=False)
    assert [o.status for o in first] == ["done"]
    assert api.put == {"upl_1": png("purple")}
    assert api.options[0]["steps"][1] == {"stage": "makeup", "params": {"intensity": 0.5},
                                          "inputs": {"reference": {"upload_id": "upl_1"}}}
    second = run_folder(client, photos, out, model="vm_1", steps="swap,makeup", intensity=0.5, reference=reference,
                        progress=False)
    assert [o.status for o in second] == ["skipped"] and api.created == 1  # upl_2 differs, the reference does not


# ------------------------------------------------------------------------ errors, routes, async parity
@pytest.mark.parametrize("status, cls", [(400, "BadRequestError"), (401, "AuthenticationError"),
                                         (403, "PermissionDeniedError"), (404, "NotFoundError"),
                                         (409, "ConflictError"), (413, "PayloadTooLargeError"),
                                         (415, "UnsupportedMediaTypeError"), (422, "UnprocessableEntityError"),
                                         (429, "RateLimitError"), (503, "ServerError"), (418, "APIError")])
def test_each_status_family_has_its_error_class(status, cls):
    def handler(request):
        return httpx.Response(status, headers={"content-type": "application/problem+json"},
                              content=json.dumps({"type": "https://facecast.dev/problems/x", "title": "T",
                                                  "status": status, "code": "some-code", "detail": "d"}))

    client, _ = make_client(handler, retry=RetryPolicy(max_retries=0))
    with pytest.raises(APIError) as info:
        client.get_job("job_1")
    assert type(info.value).__name__ == cls and isinstance(info.value, facecast.FaceCastError)
    assert info.value.status == status and info.value.code == "some-code"


def test_a_problem_exposes_its_field_errors_details_and_specific_code():
    problem = {"type": "https://facecast.dev/problems/source-covered", "title": "Unprocessable content",
               "status": 422, "code": "source-covered", "detail": "the portrait shows glasses",
               "details": {"role": "source", "reason": "source-covered"},
               "errors": [{"loc": ["options"], "msg": "not valid JSON", "type": "json_invalid"}]}

    def handler(request):
        return httpx.Response(422, headers={"content-type": "application/problem+json"}, content=json.dumps(problem))

    client, _ = make_client(handler, retry=RetryPolicy(max_retries=0))
    with pytest.raises(facecast.UnprocessableEntityError) as info:
        client.get_job("job_1")
    assert info.value.code == "source-covered" and info.value.details["reason"] == "source-covered"
    assert info.value.errors == [{"loc": ["options"], "msg": "not valid JSON", "type": "json_invalid"}]
    plain = APIError(404, {"code": "not-found", "detail": "no such job"})
    assert plain.errors == [] and plain.details == {}
    failed = facecast.JobFailed({"id": "job_1", "status": "failed",
                                 "error": {"code": "source-covered", "message": "glasses"}})
    assert failed.code == "source-covered" and "glasses" in str(failed)


def test_a_route_refuses_fields_it_does_not_declare():
    from facecast.resources.castings import CREATE
    with pytest.raises(TypeError, match="undeclared body field colour"):
        CREATE.check({"n": 1, "colour": "red"}, None, None)
    CREATE.check({"n": 1, "near": ["cast_1/0"]}, None, None)
    assert CREATE.path() == "/v1/castings"
    from facecast.resources.categories import FIT
    assert FIT.path(label="청량한/x") == "/v1/categories/%EC%B2%AD%EB%9F%89%ED%95%9C%2Fx:fit"


def test_list_jobs_follows_the_cursor_sync_and_async():
    pages = {None: {"data": [{"id": "j3"}, {"id": "j2"}], "next_cursor": "j2"},
             "j2": {"data": [{"id": "j1"}], "next_cursor": None}}
    seen = []

    def handler(request):
        seen.append(dict(request.url.params))
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    client, _ = make_client(handler)
    assert [j["id"] for j in client.list_jobs(status="succeeded")] == ["j3", "j2", "j1"]
    assert seen == [{"status": "succeeded"}, {"status": "succeeded", "cursor": "j2"}]

    async def collect():
        async with AsyncFaceCast("k", "http://api.test", transport=httpx.MockTransport(handler)) as fc:
            return [j["id"] async for j in fc.list_jobs(status="succeeded")]

    assert asyncio.run(collect()) == ["j3", "j2", "j1"]


async def test_async_events_arrive_as_they_are_sent():
    stream = ("retry: 2000\n\nid: 1\nevent: step\ndata: {\"stage\": \"swapper\", \"status\": \"running\"}\n\n"
              "id: 2\nevent: end\ndata: {\"status\": \"succeeded\"}\n\n")

    def handler(request):
        assert request.url.path == "/v1/jobs/job_1/events" and request.headers["accept"] == "text/event-stream"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=stream.encode())

    async with AsyncFaceCast("k", "http://api.test", transport=httpx.MockTransport(handler)) as fc:
        events = [e async for e in fc.events({"id": "job_1"})]
    assert [(e.event, e.id) for e in events] == [("step", "1"), ("end", "2")]
    assert events[-1].json() == {"status": "succeeded"}

    async def lines():
        for line in ["data: a", "", "data: b"]:
            yield line

    assert [e.data async for e in aiter_sse(lines())] == ["a", "b"]


async def test_async_wait_casting_reports_candidates_then_raises_on_failure():
    states = [("running", [0]), ("failed", [0, 1])]

    def handler(request):
        status, made = states.pop(0) if len(states) > 1 else states[0]
        return httpx.Response(200, json={"id": "cast_1", "status": status, "expected": 4,
                                         "candidates": [{"index": i} for i in made], "error": {"message": "boom"}})

    async def no_sleep(s):
        pass

    got = []
    async with AsyncFaceCast("k", "http://api.test", transport=httpx.MockTransport(handler), sleep=no_sleep) as fc:
        with pytest.raises(facecast.JobFailed, match="boom"):
            await fc.wait_casting("cast_1", on_candidate=got.append)
    assert [c["index"] for c in got] == [0, 1]


def test_import_virtual_model_uploads_the_portrait_then_sends_the_consent():
    api = FakeAPI()
    sent = []

    def handler(request):
        if request.url.path == "/v1/virtual-models:import":
            sent.append(json.loads(request.read()))
            return httpx.Response(201, json={"id": "vm_1", "name": "Mina"})
        return api(request)

    client, _ = make_client(handler)
    model = client.import_virtual_model(png("white"), name="Mina", subject_name="Mina Kim", rights_holder="Shop",
                                        commercial_use_permitted=True, evidence_reference="release-7")
    assert model["id"] == "vm_1" and api.put == {"upl_1": png("white")}
    assert sent == [{"name": "Mina", "image": {"upload_id": "upl_1"},
                     "consent": {"subject_name": "Mina Kim", "rights_holder": "Shop", "consent_obtained": True,
                                 "commercial_use_permitted": True, "evidence_reference": "release-7"}}]
