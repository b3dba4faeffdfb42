"""A transparent product cut-out (RGBA PNG or WebP) keeps its alpha through the stages: they work on the
photo composited onto white and the worker runtime writes the alpha back (`shared.images`); a JPEG
output, which cannot carry it, says so with an `alpha-flattened` warning."""
from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from services.enhancer.stage import STAGE
from shared.events import JobEventKind
from shared.images import decode_image, encode_image, output_alpha
from tests.backbone.test_runtime import Harness
from tests.enhancer.conftest import blurred


def cut_out(image: np.ndarray) -> np.ndarray:
    """The photo as an RGBA cut-out: the person opaque, a soft edge, the backdrop transparent."""
    alpha = np.zeros(image.shape[:2], np.uint8)
    cv2.ellipse(alpha, (224, 200), (150, 230), 0, 0, 360, 255, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 6)
    return np.dstack([cv2.cvtColor(image, cv2.COLOR_BGR2RGB), alpha])


def rgba_bytes(rgba: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, fmt.upper(), **({"lossless": True} if fmt == "webp" else {}))
    return buffer.getvalue()


def read_rgba(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_decode_encode_round_trip_keeps_alpha_and_color(astronaut, fmt):
    rgba = cut_out(astronaut)
    decoded = decode_image(rgba_bytes(rgba, fmt))
    assert decoded.had_alpha and np.array_equal(decoded.alpha, rgba[:, :, 3])
    assert (decoded.pixels[rgba[:, :, 3] == 0] == 255).all()  # the stages see the cut-out on white
    again = read_rgba(encode_image(decoded.pixels, fmt, alpha=decoded.alpha))
    assert again.mode == "RGBA"
    out = np.asarray(again)
    assert np.array_equal(out[:, :, 3], rgba[:, :, 3])
    visible = rgba[:, :, 3] >= 128  # colour under the alpha comes back (the white blend undone)
    assert np.abs(out[:, :, :3][visible].astype(int) - rgba[:, :, :3][visible]).max() <= 2
    assert np.array_equal(decode_image(encode_image(decoded.pixels, fmt, alpha=decoded.alpha)).pixels, decoded.pixels)


def test_an_output_that_cannot_carry_alpha_says_it_was_flattened(astronaut):
    decoded = decode_image(rgba_bytes(cut_out(astronaut), "png"))
    alpha, warning = output_alpha(decoded, (1024, 1024, 3), "png")  # upscaled ×2: alpha scaled with it
    assert alpha.shape == (1024, 1024) and warning is None
    alpha, warning = output_alpha(decoded, decoded.pixels.shape, "jpeg")
    assert alpha is None and warning["code"] == "alpha-flattened" and "JPEG" in warning["message"]
    assert output_alpha(decode_image(encode_image(astronaut, "png")), astronaut.shape, "png") == (None, None)


async def test_rgba_cut_out_through_the_enhancer_worker_keeps_the_same_alpha(tmp_path, astronaut):
    rgba = cut_out(blurred(astronaut))  # a soft face, so the enhancer really restores it
    harness = Harness(tmp_path)
    ref = harness.put_image("cutout", rgba_bytes(rgba, "png"))
    job = await harness.submit([("enhancer", {})], job_id="cutout", image=ref)
    harness.start(STAGE)
    try:
        final = await harness.wait_for(lambda: next((e for e in harness.events(job.job_id)
                                                     if e.kind != JobEventKind.progress), None),
                                       "the enhancer", timeout_s=180)
    finally:
        await harness.stop()
    assert final.kind == JobEventKind.completed, final.error
    report = final.outcome.report
    assert report["alpha"] == "kept" and report["faces_restored"] == 1 and "warnings" not in report
    result = read_rgba(harness.store.get_bytes(final.outcome.outputs["image"].key))
    assert result.mode == "RGBA" and result.size == (512, 512)
    out = np.asarray(result)
    assert np.array_equal(out[:, :, 3], rgba[:, :, 3])
    face_changed = (out[:, :, :3] != rgba[:, :, :3]).any(axis=2) & (rgba[:, :, 3] == 255)
    assert face_changed.sum() > 2000  # the face was restored under the opaque alpha


@pytest.mark.usefixtures("empty_model_store")
def test_enhance_cli_keeps_alpha_in_png_and_says_a_jpeg_flattened_it(tmp_path, capsys, astronaut):
    from services.cli import main

    rgba = cut_out(astronaut)
    source = tmp_path / "cutout.png"
    source.write_bytes(rgba_bytes(rgba, "png"))
    assert main(["enhance", str(source), "-o", str(tmp_path / "out.png")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["alpha"] == "kept" and "warnings" not in report
    assert np.array_equal(np.asarray(read_rgba((tmp_path / "out.png").read_bytes()))[:, :, 3], rgba[:, :, 3])
    assert main(["enhance", str(source), "-o", str(tmp_path / "out.jpg")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["alpha"] == "flattened" and [w["code"] for w in report["warnings"]] == ["alpha-flattened"]
