"""`facecast swap --engine inswapper_128` reports the licences of the files the user imported, and
commercial use by the one rule: only when the code and every file the engine ran (the swapper file and
the w600k recogniser) allow it."""
from __future__ import annotations

import json

import cv2
import pytest

from services.cli import main
from shared.engines import WEIGHT_CACHE
from shared.onnx_catalog import ARCFACE
from tests.data import load_image, unrelated_face
from tests.onnx.test_import_and_swap import _tiny_files

BOUGHT = "LicenseRef-insightface-commercial"  # a shop that bought InsightFace's commercial licence
NC = "LicenseRef-insightface-NC"


def _import(path, licence: str, commercial: str, capsys) -> None:
    assert main(["models", "import", str(path), "--licence", licence, "--commercial-use", commercial]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("swapper_terms, recogniser_terms, commercial", [
    ((BOUGHT, "yes"), (BOUGHT, "yes"), True),
    ((BOUGHT, "yes"), (NC, "no"), False),  # one non-commercial file is enough
    ((NC, "no"), (BOUGHT, "yes"), False),
])
def test_the_swap_reports_the_imported_records_and_their_commercial_use(empty_model_store, tmp_path, capsys,
                                                                       swapper_terms, recogniser_terms, commercial):
    WEIGHT_CACHE.clear()
    inswapper, arcface = _tiny_files(tmp_path)
    _import(inswapper, *swapper_terms, capsys)
    _import(arcface, *recogniser_terms, capsys)
    cv2.imwrite(str(tmp_path / "target.png"), unrelated_face())
    cv2.imwrite(str(tmp_path / "source.png"), load_image("portrait_closeup"))
    assert main(["swap", str(tmp_path / "target.png"), str(tmp_path / "source.png"), "-o", str(tmp_path / "out.png"),
                 "--engine", "inswapper_128"]) == 0
    report = json.loads(capsys.readouterr().out)

    assert report["engine"] == "inswapper_128" and report["commercial_use"] is commercial
    assert report["weight_licences"] == {"inswapper_128": swapper_terms[0], ARCFACE: recogniser_terms[0]}
    ran = {entry["name"]: entry for entry in report["model_weights"]}
    assert set(ran) == {"inswapper_128", ARCFACE}
    assert (ran["inswapper_128"]["licence"], ran["inswapper_128"]["commercial_use"]) == (swapper_terms[0],
                                                                                         swapper_terms[1] == "yes")
    assert (ran[ARCFACE]["licence"], ran[ARCFACE]["commercial_use"]) == (recogniser_terms[0],
                                                                         recogniser_terms[1] == "yes")
    restated = [f"{name}: {terms[0]}" for name, terms in (("inswapper_128", swapper_terms), (ARCFACE, recogniser_terms))
                if terms[0] != NC]
    assert all(part in report["licence"] for part in restated)
    assert ("as imported" in report["licence"]) == bool(restated)
    [face] = report["faces"]
    assert face["status"] == "swapped" and face["commercial_use"] is commercial and face["licence"] == report["licence"]
    WEIGHT_CACHE.clear()
