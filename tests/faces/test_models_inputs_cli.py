import dataclasses
import json
import threading

import cv2
import numpy as np
import pytest

from shared.errors import ImageTooLarge, UnsupportedImage, WeightsMismatch
from shared.faces import detect_faces, find_faces
from shared.faces import packaged_models
from shared.faces.cli import main as faces_cli
from shared.images import check_header, decode_image
from tests.data import bad_input, sample


def test_every_model_file_matches_its_recorded_hash():
    for record in packaged_models.ALL_MODELS:
        path = record.verified_path()
        assert path.is_file() and len(record.sha256) == 64
        assert record.licence in {"MIT", "Apache-2.0"} and record.commercial_use
    assert {m.licence for m in (packaged_models.YUNET, packaged_models.SFACE)} == {"MIT", "Apache-2.0"}


def test_a_wrong_hash_is_a_clear_error():
    tampered = dataclasses.replace(packaged_models.YUNET, sha256="0" * 64)
    with pytest.raises(WeightsMismatch, match="expected 0000"):
        tampered.verified_path()


def test_models_are_cached_per_thread():
    mine = packaged_models.yunet()
    assert packaged_models.yunet() is mine
    other = []
    thread = threading.Thread(target=lambda: other.append(packaged_models.yunet()))
    thread.start()
    thread.join()
    assert other[0] is not mine


@pytest.mark.parametrize("name", ["truncated.jpg", "not_an_image.png", "empty.jpg"])
def test_broken_files_are_refused_clearly(name):
    with pytest.raises(UnsupportedImage):
        decode_image(bad_input(name))


def test_the_header_check_refuses_what_it_can_without_decoding():
    assert check_header(bad_input("truncated.jpg")) == "jpeg"  # its pixels are the decoder's business
    for name in ("not_an_image.png", "empty.jpg"):
        with pytest.raises(UnsupportedImage):
            check_header(bad_input(name))
    with pytest.raises(ImageTooLarge):
        check_header(bad_input("cmyk.jpg"), max_pixels=100 * 100)


def test_oversized_images_are_refused_before_decoding():
    with pytest.raises(ImageTooLarge):
        decode_image(bad_input("cmyk.jpg"), max_pixels=100 * 100)


@pytest.mark.parametrize("name", ["cmyk.jpg", "grey16.png", "grey.png", "alpha.png"])
def test_unusual_encodings_decode_to_bgr_and_keep_the_face(name):
    decoded = decode_image(bad_input(name))
    image = decoded.pixels
    assert image.dtype == np.uint8 and image.shape == (256, 256, 3)
    assert decoded.had_alpha == (name == "alpha.png")
    faces = detect_faces(image)
    assert len(faces) == 1 and 30 < faces[0].width < 70


def test_exif_orientation_is_applied_before_detection():
    data = bad_input("exif_rotated.jpg")
    from PIL import Image
    import io

    with Image.open(io.BytesIO(data)) as stored:
        assert stored.getexif()[0x0112] == 6
    image = decode_image(data).pixels
    faces = find_faces(image)
    assert abs(faces[0].roll) < 15  # upright once the orientation is applied
    raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_COLOR)
    turned_back = cv2.rotate(raw, cv2.ROTATE_90_CLOCKWISE)  # what orientation 6 asks a viewer to do
    assert not np.array_equal(raw.shape, image.shape) or np.abs(raw.astype(int) - image.astype(int)).mean() > 20
    assert np.abs(turned_back.astype(int) - image.astype(int)).mean() < 2


def test_cli_detect_prints_json(capsys):
    assert faces_cli(["faces", "detect", str(sample("group_three").path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3
    assert all(len(r["landmarks5"]) == 5 and len(r["box"]) == 4 and r["mesh_landmarks"] == 478 for r in rows)
    assert [r["box"][0] for r in rows] == sorted(r["box"][0] for r in rows)


def test_cli_detect_without_a_face_prints_an_empty_list(capsys):
    assert faces_cli(["faces", "detect", str(sample("noface_coffee").path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_cli_detect_text_output(capsys):
    assert faces_cli(["faces", "detect", str(sample("portrait_astronaut").path)]) == 0
    assert "face 0: box" in capsys.readouterr().out


def test_cli_crop_writes_an_aligned_face(tmp_path, capsys):
    out = tmp_path / "face.png"
    assert faces_cli(["faces", "crop", str(sample("body_w72").path), "--template", "ffhq512", "-o", str(out)]) == 0
    crop = cv2.imread(str(out))
    assert crop.shape == (512, 512, 3)
    assert len(detect_faces(crop)) == 1


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(bad_input("truncated.jpg"))
    assert faces_cli(["faces", "crop", str(bad), "-o", str(tmp_path / "x.png")]) == 2
    assert "unsupported-image" in capsys.readouterr().err
    assert faces_cli(["faces", "crop", str(sample("noface_coffee").path), "-o", str(tmp_path / "x.png")]) == 2
    assert "no-face-found" in capsys.readouterr().err
