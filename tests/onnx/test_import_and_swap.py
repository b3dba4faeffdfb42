"""End to end: `facecast models import` of known ONNX file names, then `facecast swap` with a tiny
inswapper-shaped model (the result carries the composite's realism report and the licence) and
`facecast enhance` with a tiny GFPGAN-shaped one."""
from __future__ import annotations

import json

import cv2
import numpy as np

from services.cli import main
from shared.engines import WEIGHT_CACHE
from shared.onnx_catalog import ARCFACE, CARDS
from tests.data import load_image, unrelated_face
from tests.onnx import tiny
from tests.onnx.test_swap_engines import EMAP, B, W


def _tiny_files(folder):
    inswapper = tiny.swapper(folder / "inswapper_128.onnx", CARDS["inswapper_128"], emap=EMAP)  # gives its input back
    arcface = tiny.recogniser(folder / f"{ARCFACE}.onnx", W, B)
    return inswapper, arcface


def test_import_knows_the_file_and_the_swap_reports_its_licence(empty_model_store, tmp_path, capsys):
    WEIGHT_CACHE.clear()
    inswapper, arcface = _tiny_files(tmp_path)
    assert main(["models", "import", str(inswapper)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["name"] == "inswapper_128" and record["licence"] == "LicenseRef-insightface-NC"
    assert record["commercial_use"] is False and record["input_size"] == 128
    assert "arcface_128" in record["notes"] and "emap" in record["notes"]
    assert main(["models", "import", str(arcface)]) == 0
    capsys.readouterr()

    cv2.imwrite(str(tmp_path / "target.png"), unrelated_face())
    # a source without glasses (the stage refuses those) and a face large enough not to need super-resolution
    cv2.imwrite(str(tmp_path / "source.png"), load_image("portrait_closeup"))
    out = tmp_path / "out.png"
    assert main(["swap", str(tmp_path / "target.png"), str(tmp_path / "source.png"), "-o", str(out),
                 "--engine", "inswapper_128"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["engine"] == "inswapper_128" and report["commercial_use"] is False
    assert "InsightFace" in report["licence"] and "arcface_w600k_r50.onnx" in report["licence"]
    [face] = report["faces"]
    assert face["status"] == "swapped" and face["engine"] == "inswapper_128" and "InsightFace" in face["licence"]
    assert {"tone_gap_delta_e", "sharpness_ratio", "identity_to_source"} <= set(face["realism"])
    assert face["quality"] in ("pass", "warn")
    assert isinstance(report["warnings"], list)
    result, original = cv2.imread(str(out)), unrelated_face()
    x0, y0, x1, y1 = face["change_box"]
    outside = np.ones(original.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(result[outside], original[outside])  # nothing outside the change box moved
    WEIGHT_CACHE.clear()


def test_without_the_files_the_engine_says_what_to_import(empty_model_store, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "target.png"), unrelated_face())
    # a source without glasses (the stage refuses those) and a face large enough not to need super-resolution
    cv2.imwrite(str(tmp_path / "source.png"), load_image("portrait_closeup"))
    code = main(["swap", str(tmp_path / "target.png"), str(tmp_path / "source.png"), "-o", str(tmp_path / "o.png"),
                 "--engine", "hyperswap_1a_256"])
    err = capsys.readouterr().err
    assert code == 2
    assert "hyperswap_1a_256.onnx" in err and "facecast models import hyperswap_1a_256.onnx" in err


def test_import_and_enhance_with_a_restorer(empty_model_store, tmp_path, capsys):
    WEIGHT_CACHE.clear()
    restorer = tiny.restorer(tmp_path / "gfpgan_1.4.onnx", 512, color=(0.2, -0.1, 0.3))
    assert main(["models", "import", str(restorer)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["name"] == "gfpgan_1.4" and record["licence"] == "Apache-2.0" and record["commercial_use"] is True
    cv2.imwrite(str(tmp_path / "in.png"), unrelated_face())
    out = tmp_path / "out.png"
    assert main(["enhance", str(tmp_path / "in.png"), "-o", str(out), "--engine", "gfpgan_1.4", "--restore", "full"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["engine"] == "gfpgan_1.4" and report["commercial_use"] is True
    assert report["model_weights"][0]["name"] == "gfpgan_1.4" and report["faces_restored"] == 1
    assert not np.array_equal(cv2.imread(str(out)), unrelated_face())
    WEIGHT_CACHE.clear()
