"""`facecast makeup IMAGE (--reference REF | --look NAME) -o OUT`, found by the lead's services/cli.py."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from services.cli import main
from tests.makeup.conftest import DATA

PORTRAIT = DATA / "images" / "portrait_astronaut.jpg"


pytestmark = pytest.mark.usefixtures("empty_model_store")


def test_a_look_writes_the_made_up_photo_and_prints_the_report(tmp_path, capsys):
    out = tmp_path / "made-up.png"
    code = main(["makeup", str(PORTRAIT), "--look", "autumn-warm", "--regions", "lips", "blush",
                 "--region-intensity", "lips=1", "-o", str(out)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["look"] == "autumn-warm" and report["regions"] == ["lips", "blush"]
    assert report["faces"][0]["regions"]["lips"]["weight"] == 1.0
    original, result = cv2.imread(str(PORTRAIT)), cv2.imread(str(out))
    assert result.shape == original.shape and np.any(result != original)


def test_a_reference_photo_is_transferred(tmp_path, capsys):
    out = tmp_path / "made-up.jpg"
    reference = DATA / "images" / "portrait_closeup.jpg"
    assert main(["makeup", str(PORTRAIT), "--reference", str(reference), "-o", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["reference"] is True
    assert cv2.imread(str(out)) is not None


@pytest.mark.parametrize("extra, message", [
    (["--reference", str(DATA / "bad" / "not_an_image.png")], "unsupported-image: reference"),
    (["--reference", str(DATA / "images" / "noface_chelsea.jpg")], "no face was found in the makeup reference"),
    (["--look", "disco"], "unknown look 'disco'"),
    (["--look", "natural", "--intensity", "2"], "intensity: Input should be less than or equal to 1"),
    (["--look", "natural", "--region-intensity", "lips:1"], "REGION=VALUE pairs"),
    (["--reference", str(PORTRAIT), "--engine", "beautygan"], "missing weights in the model store: beautygan"),
])
def test_bad_input_exits_2_with_one_clear_line(tmp_path, capsys, extra, message):
    out = tmp_path / "out.png"
    assert main(["makeup", str(PORTRAIT), *extra, "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_look_and_reference_are_mutually_exclusive(tmp_path):
    with pytest.raises(SystemExit):
        main(["makeup", str(PORTRAIT), "--look", "natural", "--reference", str(PORTRAIT), "-o", str(tmp_path / "o.png")])
