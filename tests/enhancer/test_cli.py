"""`facecast enhance`: the stage on local files, with errors as exit code 2 and a one-line message."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from services.cli import main
from tests.data import load_image


pytestmark = pytest.mark.usefixtures("empty_model_store")


def test_enhance_upscales_a_file_and_prints_the_report(tmp_path, capsys):
    source = tmp_path / "small.png"
    cv2.imwrite(str(source), load_image("noface_brick")[:23, :37])
    out = tmp_path / "out" / "big.jpg"
    assert main(["enhance", str(source), "-o", str(out), "--scale", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["output"] == str(out) and report["faces_restored"] == 0
    assert cv2.imread(str(out)).shape == (46, 74, 3)


def test_enhance_reports_errors_in_one_line(tmp_path, capsys):
    source = tmp_path / "wall.png"
    cv2.imwrite(str(source), np.full((64, 64, 3), 128, np.uint8))
    assert main(["enhance", str(source), "-o", str(tmp_path / "out.png")]) == 2
    assert "no-face-found" in capsys.readouterr().err
    assert main(["enhance", str(source), "-o", str(tmp_path / "out.png"), "--engine", "gpen"]) == 2
    err = capsys.readouterr().err
    assert "engine-unavailable" in err and "gpen-bfr-512" in err
    assert main(["enhance", str(source), "-o", str(tmp_path / "out.gif")]) == 2
    assert "must end in" in capsys.readouterr().err
    assert main(["enhance", str(source), "-o", str(tmp_path / "out.png"), "--blend", "2"]) == 2
    assert "blend" in capsys.readouterr().err
