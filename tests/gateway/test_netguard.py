"""SSRF guard: webhook and image URLs to loopback, private, link-local, metadata or [::1] addresses,
or to hostnames resolving there, are refused with a clear error; redirects and sizes are capped."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.gateway.conftest import png_bytes

REFUSED = [
    ("https://127.0.0.1/hook", "loopback"),
    ("https://10.0.0.1/hook", "private"),
    ("https://169.254.169.254/latest/meta-data/", "metadata"),
    ("https://[::1]/hook", "loopback"),
    ("https://private.facecast-test.example/hook", "private"),
    ("https://mixed.facecast-test.example/hook", "private"),  # one public and one private address
    ("https://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://shop.example.com/hook", "https"),
]


@pytest.fixture
def fake_dns(monkeypatch):
    """Names under facecast-test.example resolve where the test says; everything else as usual."""
    table = {"private.facecast-test.example": ["10.20.30.40"],
             "mixed.facecast-test.example": ["93.184.216.34", "10.0.0.5"]}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in table:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port or 443)) for ip in table[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


async def test_webhook_urls_to_refused_addresses(fake_dns, api):
    for url, reason in REFUSED:
        response = await api.post("/v1/webhook-endpoints", json={"url": url})
        assert response.status_code == 422, (url, response.text)
        body = response.json()
        assert body["type"].endswith("/url-refused") and reason in body["detail"], (url, body)
    assert (await api.get("/v1/webhook-endpoints")).json()["data"] == []


async def test_image_urls_to_refused_addresses(fake_dns, harness, api):
    for url, reason in REFUSED:
        response = await api.post("/v1/jobs", json={"steps": [{"stage": "invert"}], "images": [{"url": url}]})
        assert response.status_code == 422, (url, response.text)
        assert reason in response.json()["detail"], (url, response.text)
    assert (await api.get("/v1/jobs")).json()["data"] == []


class ImageServer:
    """Serves a PNG at /photo.png, a redirect to the metadata address at /redirect, a huge body at /huge."""

    def __init__(self) -> None:
        image = png_bytes(12, 12)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/photo.png":
                    self._send(200, image, {"content-type": "image/png"})
                elif self.path == "/redirect":
                    self._send(302, b"", {"location": "http://169.254.169.254/latest/meta-data/"})
                elif self.path == "/redirect-local":
                    self._send(302, b"", {"location": "/photo.png"})
                elif self.path == "/huge":
                    self._send(200, b"\x89PNG\r\n\x1a\n" + b"\0" * 300_000, {"content-type": "image/png"})
                else:
                    self._send(404, b"", {})

            def _send(self, status, body, headers):
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.image = image
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def image_server():
    server = ImageServer()
    yield server
    server.close()


async def test_image_url_fetch_redirects_and_caps(make_harness, image_server):
    harness = await make_harness(allow_http_urls=True, netguard_allow_networks=["127.0.0.1/32"],
                                 max_upload_bytes=200_000)
    api = await harness.tenant()

    async def submit(path):
        return await api.post("/v1/jobs", json={"steps": [{"stage": "invert"}],
                                                "images": [{"url": image_server.base + path}]})

    fetched = await submit("/photo.png")
    assert fetched.status_code == 202, fetched.text
    job = await api.wait_job(fetched.json()["id"])
    assert job["status"] == "succeeded" and job["input"]["sha256"] == __import__("hashlib").sha256(
        image_server.image).hexdigest()
    assert (await submit("/redirect-local")).status_code == 202
    redirected = await submit("/redirect")
    assert redirected.status_code == 422 and "metadata" in redirected.json()["detail"]
    huge = await submit("/huge")
    assert huge.status_code == 422 and "200000" in huge.json()["detail"].replace(",", "")
    missing = await submit("/missing.png")
    assert missing.status_code == 422 and "404" in missing.json()["detail"]


async def test_loopback_refused_even_with_http_allowed(make_harness, image_server):
    harness = await make_harness(allow_http_urls=True)
    api = await harness.tenant()
    response = await api.post("/v1/jobs", json={"steps": [{"stage": "invert"}],
                                                "images": [{"url": image_server.base + "/photo.png"}]})
    assert response.status_code == 422 and "loopback" in response.json()["detail"]
    hook = await api.post("/v1/webhook-endpoints", json={"url": image_server.base + "/hook"})
    assert hook.status_code == 422 and json.loads(hook.text)["code"] == "url-refused"


async def test_dns_rebinding_after_registration_is_refused_at_delivery(fake_dns, api):
    """The host resolved to a public address when registered and to loopback when delivering."""
    import asyncio

    fake_dns["rebind.facecast-test.example"] = ["93.184.216.34"]
    created = await api.post("/v1/webhook-endpoints", json={"url": "https://rebind.facecast-test.example/hook"})
    assert created.status_code == 201, created.text
    fake_dns["rebind.facecast-test.example"] = ["127.0.0.1"]
    await api.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "invert"}]})},
                   files=[("image", ("p.png", png_bytes(), "image/png"))])
    for _ in range(200):
        rows = (await api.get(f"/v1/webhook-endpoints/{created.json()['id']}/deliveries")).json()["data"]
        if rows and rows[0]["attempts"]:
            break
        await asyncio.sleep(0.05)
    assert rows[0]["status"] == "pending" and "loopback" in rows[0]["last_error"]
    assert rows[0]["attempt_log"][0]["status_code"] is None


async def test_fetched_images_not_owned_by_a_job_are_swept(make_harness, image_server):
    from datetime import timedelta

    from shared.ids import utcnow

    harness = await make_harness(stages=["swapper"], allow_http_urls=True, netguard_allow_networks=["127.0.0.1/32"])
    api = await harness.tenant()
    consent = {"subject_name": "a", "rights_holder": "b", "consent_obtained": True, "commercial_use_permitted": True,
               "evidence_reference": "c"}
    faceless = await api.post("/v1/virtual-models:import", json={
        "name": "x", "consent": consent, "image": {"url": image_server.base + "/photo.png"}})
    assert faceless.status_code == 422 and faceless.json()["code"] == "no-face-found"
    prefix = f"tenants/{api.tenant_id}/uploads/"
    assert harness.gw.store.list_keys(prefix) == []  # a refused import leaves nothing behind (issue 14)
    counts = await harness.gw.sweeper.sweep_once(now=utcnow() + timedelta(days=8))
    assert counts["uploads"] == 0 and counts["orphans"] == 0
