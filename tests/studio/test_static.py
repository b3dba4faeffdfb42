"""The studio's files as served: translations, size, no external hosts, security headers, contrast."""
from __future__ import annotations

import json
import re

import httpx

from services.gateway.studio import STATIC_DIR, content_security_policy


def flat_keys(tree: dict, prefix: str = "") -> set[str]:
    keys = set()
    for k, v in tree.items():
        keys |= flat_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k}
    return keys


def test_translations_cover_every_key_the_page_uses():
    en = json.loads((STATIC_DIR / "i18n" / "en.json").read_text())
    ko = json.loads((STATIC_DIR / "i18n" / "ko.json").read_text())
    assert flat_keys(en) == flat_keys(ko)
    used = set()
    for path in [STATIC_DIR / "index.html", *sorted((STATIC_DIR / "js").glob("*.js"))]:
        text = path.read_text()
        used |= set(re.findall(r'data-i18n(?:-placeholder|-aria-label)?="([\w.]+)"', text))
        used |= set(re.findall(r'\bt\("([\w.-]+)"', text))
        used |= set(re.findall(r'\bi18n: "([\w.]+)"', text))
    missing = sorted(k for k in used if k not in flat_keys(en))
    assert not missing, missing
    # the five moods carry their Korean names
    assert ko["categories"] == {"elegant": "우아한", "innocent": "청초한", "alluring": "퇴폐적인",
                                "graceful": "단아한", "fresh": "청량한"}


def test_first_load_is_small_and_local():
    js = sum(p.stat().st_size for p in (STATIC_DIR / "js").glob("*.js"))
    assert js < 300_000, js
    html = (STATIC_DIR / "index.html").read_text()
    for path in [STATIC_DIR / "index.html", STATIC_DIR / "styles.css", *(STATIC_DIR / "js").glob("*.js")]:
        text = path.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), f"{path.name} loads something from another host"
        assert "@import url(http" not in text
    assert 'type="module"' in html


def test_served_with_security_headers(studio_only_server):
    with httpx.Client(base_url=studio_only_server) as client:
        redirect = client.get("/studio")
        assert redirect.status_code == 308 and redirect.headers["location"] == "/studio/"
        index = client.get("/studio/")
        assert index.status_code == 200 and "text/html" in index.headers["content-type"]
        csp = index.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert client.get("/studio/js/app.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/studio/i18n/ko.json").json()["categories"]["fresh"] == "청량한"
        assert client.get("/studio/../../setup.py").status_code == 404
        assert client.get("/studio/%2e%2e/__init__.py").status_code == 404
        assert client.get("/studio/nope.js").status_code == 404


def test_csp_allows_the_object_store_origin():
    csp = content_security_policy(["http://minio.test:9000"])
    img = next(p for p in csp.split("; ") if p.startswith("img-src"))
    connect = next(p for p in csp.split("; ") if p.startswith("connect-src"))
    assert "http://minio.test:9000" in img and "http://minio.test:9000" in connect and "blob:" in img


def _luminance(hex_color: str) -> float:
    rgb = [int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_color_pairs_meet_wcag_aa():
    css = (STATIC_DIR / "styles.css").read_text()
    var = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", css))
    pairs = [("ink", "bg"), ("ink", "card"), ("muted", "card"), ("muted", "bg"), ("accent-ink", "accent"),
             ("accent", "card"), ("accent", "accent-soft"), ("bad", "card"), ("ok", "card"), ("ink", "warn-bg")]
    low = {f"{f}/{b}": round(contrast(var[f], var[b]), 2) for f, b in pairs if contrast(var[f], var[b]) < 4.5}
    assert not low, low
    assert contrast("#7a0916", "#fde2e4") >= 4.5 and contrast("#17603a", "#dff3e6") >= 4.5  # licence badges
    assert contrast("#5c4300", "#fff1c2") >= 4.5 and contrast("#5c4300", var["card"]) >= 4.5  # warning badge, list
    assert contrast(var["muted"], "#f1f0f6") >= 4.5  # untaught mood chips


async def test_csp_uses_the_gateways_own_settings():
    from fastapi import FastAPI

    from services.gateway.studio import mount_studio
    from shared.settings import Settings

    app = FastAPI()
    app.state.gateway = type("G", (), {"settings": Settings(public_url="https://cast.example:8443", store_backend="s3",
                                                            s3_endpoint="objects.example:9000", s3_secure=True)})()
    mount_studio(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://studio.test") as client:
        csp = (await client.get("/studio/")).headers["content-security-policy"]
    connect = next(p for p in csp.split("; ") if p.startswith("connect-src"))
    assert "https://cast.example:8443" in connect and "https://objects.example:9000" in connect
