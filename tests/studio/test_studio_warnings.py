"""A job that succeeded with warnings shows a warning badge and every message on its result in the studio.

The gateway runs in this process (a thread with its own event loop) with one stage, the test stage that
passes the photo through and reports two warnings (`tests/gateway/stages.py`); the page's job request is
rewritten to that stage, so everything else (sign-in, upload, SSE, rendering) is the studio's own."""
from __future__ import annotations

import asyncio
import json
import secrets
import threading

import pytest

from tests.gateway.stages import WARNINGS
from tests.sdk.live import TEST_IMAGES

from .conftest import free_port, watch

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def warn_server(tmp_path_factory):
    import uvicorn

    from services.gateway.embedded import build, local_key
    from shared.settings import Settings

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    key = f"fck_test{secrets.token_hex(4)}_{secrets.token_hex(24)}"
    settings = Settings(data_dir=tmp_path_factory.mktemp("studio-warnings"), host="127.0.0.1", port=port,
                        public_url=url, bootstrap_api_key=key, extra_stages={"warn": "tests.gateway.stages:WARN"},
                        outbox_poll_s=0.05)
    app, gw = build(settings, stages=["warn"])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    ready, failed = threading.Event(), []

    async def main():
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        try:
            await local_key(gw, settings)
        except Exception as exc:  # reported by the fixture below
            failed.append(exc)
        ready.set()
        await serving

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert ready.wait(60) and not failed, failed
    yield url, key
    server.should_exit = True
    thread.join(timeout=20)


def test_a_result_with_warnings_shows_the_badge_and_the_messages(browser, warn_server, artifacts, page_errors):
    url, key = warn_server
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(30_000)
    watch(page, page_errors)
    page.goto(f"{url}/studio/")
    page.wait_for_selector("body[data-ready='1']")
    page.select_option("#lang", "en")
    page.fill("#api-key", key)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#view-casting:not([hidden])")
    page.click("nav a[data-route=photos]")
    page.wait_for_selector("#view-photos:not([hidden])")

    def to_the_warning_stage(route):
        body = route.request.post_data_json
        body["steps"] = [{"stage": "warn"}]
        body.pop("virtual_model_id", None)
        route.continue_(post_data=json.dumps(body))

    page.route("**/v1/jobs", lambda route: to_the_warning_stage(route) if route.request.method == "POST"
               else route.continue_())
    page.set_input_files("#files", str(TEST_IMAGES / "portrait_astronaut.jpg"))
    page.uncheck("#step-swap")  # no virtual model on this server: enhance alone needs none
    page.check("#step-enhance")
    page.click("#start-jobs")
    page.wait_for_selector("#photo-list li.photo[data-state=succeeded] .badge.warning", timeout=60_000)

    row = page.locator("#photo-list li.photo").first
    assert row.locator(".state").text_content() == "Done"  # succeeded, with warnings
    badge = row.locator(".badge.warning")
    assert "2 warning" in badge.text_content()
    assert badge.get_attribute("title") == f"Face 1: {WARNINGS[0]['message']}\n{WARNINGS[1]['message']}"
    items = row.locator(".warnings li").evaluate_all("els => els.map(e => [e.dataset.code, e.textContent])")
    assert items == [["soft-face", f"Face 1: {WARNINGS[0]['message']}"], ["low-source-detail", WARNINGS[1]["message"]]]
    assert "1 to check" in page.text_content("#photos-status")
    # the result itself is still there to compare and download
    assert row.get_by_role("button", name="Download").count() == 1
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "06-photos-warnings.png"), full_page=True)
    assert page_errors == []
    context.close()
