"""The page's own code in Chromium, without the API: the zip writer, the SSE parser, the language switch.

(Kept apart from async tests: Playwright's sync API runs an event loop for as long as its browser lives.)"""
from __future__ import annotations

import base64
import io
import zipfile

import pytest

from .conftest import watch


@pytest.mark.browser
def test_page_zip_writer_and_sse_parser_in_chromium(browser, studio_only_server, page_errors):
    page = browser.new_page()
    watch(page, page_errors)
    page.goto(f"{studio_only_server}/studio/")
    page.wait_for_selector("body[data-ready='1']")
    # Korean by default in a browser without a Korean locale? the language follows the saved choice or
    # navigator.language; switch explicitly both ways and check the labels change
    page.select_option("#lang", "ko")
    page.wait_for_function("() => document.documentElement.lang === 'ko'")
    assert page.text_content("#signin-title") == "API 키로 로그인"
    page.select_option("#lang", "en")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert page.text_content("#signin-title") == "Sign in with an API key"

    zipped = page.evaluate("""async () => {
        const { makeZip, crc32 } = await import('./js/zip.js');
        const enc = new TextEncoder();
        const big = new Uint8Array(70000); for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 255;
        const blob = makeZip([{name: '상품-1.png', data: enc.encode('hello')}, {name: 'b.bin', data: big},
                              {name: 'b.bin', data: enc.encode('dup')}]);
        const bytes = new Uint8Array(await blob.arrayBuffer());
        let s = ''; for (const b of bytes) s += String.fromCharCode(b);
        return {b64: btoa(s), crc: crc32(enc.encode('123456789'))};
    }""")
    assert zipped["crc"] == 0xCBF43926  # the CRC-32 check value
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(zipped["b64"])))
    assert archive.testzip() is None
    assert archive.namelist() == ["상품-1.png", "b.bin", "b-2.bin"]
    assert archive.read("상품-1.png") == b"hello"
    assert archive.read("b.bin") == bytes((i * 31) & 255 for i in range(70000))
    assert archive.read("b-2.bin") == b"dup"

    events = page.evaluate("""async () => {
        const { sseParser } = await import('./js/api.js');
        const out = [];
        const p = sseParser((e) => out.push(e));
        for (const chunk of [': hi\\n\\nid: 1\\nevent: progress\\nda', 'ta: {"a":1}\\r\\n\\r\\ndata: x\\ndata: y\\n', '\\n', 'data: last'])
            p.push(chunk);
        p.end();
        return out;
    }""")
    assert events == [{"event": "progress", "data": '{"a":1}', "id": "1"},
                      {"event": "message", "data": "x\ny", "id": "1"},
                      {"event": "message", "data": "last", "id": "1"}]
    assert page_errors == []
    page.close()
