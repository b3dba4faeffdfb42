"""`facecast swap TARGET SOURCE -o OUT`: the stage on local files, with one-line errors."""
from __future__ import annotations

import json

import cv2
import numpy as np

from services.cli import main
from tests.data import sample
from tests.data.realism import REALISM_DIR

CLEAN_SOURCE = REALISM_DIR / "ocasio_cortez.jpg"  # frontal, no glasses or fringe


def test_swap_writes_the_result_and_prints_the_report(tmp_path, capsys):
    output = tmp_path / "out" / "swapped.png"
    code = main(["swap", str(sample("body_w120").path), str(CLEAN_SOURCE), "-o", str(output)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["output"] == str(output) and report["faces"][0]["engine"] == "classical"
    result = cv2.imread(str(output))
    original = cv2.imread(str(sample("body_w120").path))
    assert result.shape == original.shape
    assert not np.array_equal(result, original)


def test_blend_zero_gives_back_the_target(tmp_path, capsys):
    output = tmp_path / "same.png"
    assert main(["swap", str(sample("portrait_astronaut").path), str(CLEAN_SOURCE),
                 "-o", str(output), "--blend", "0"]) == 0
    original = cv2.imread(str(sample("portrait_astronaut").path))  # decoded the same way as the stage's input
    assert np.array_equal(cv2.imread(str(output)), original)


def test_errors_are_one_line_with_their_code(tmp_path, capsys):
    code = main(["swap", str(sample("noface_coffee").path), str(CLEAN_SOURCE),
                 "-o", str(tmp_path / "x.png")])
    assert code == 2
    assert "no-face-found: no face was found in the target photo" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
    assert main(["swap", str(tmp_path / "missing.jpg"), str(CLEAN_SOURCE),
                 "-o", str(tmp_path / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["swap", str(sample("portrait_astronaut").path), str(CLEAN_SOURCE),
                 "-o", str(tmp_path / "x.gif")]) == 2
    assert "must end in one of" in capsys.readouterr().err
