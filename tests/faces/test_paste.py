import cv2
import numpy as np
import pytest

from shared.errors import InvalidInput
from shared.faces import (align_face, detect_faces, face_mesh, face_oval_mask, outside_mask_psnr, paste_back,
                          warp_mask_to_image)
from tests.data import load_image


@pytest.fixture(scope="module")
def body():
    image = load_image("body_w120")
    (face,) = detect_faces(image)
    aligned = align_face(image, face, "ffhq512")
    mask = face_oval_mask(face_mesh(aligned.crop), aligned.size)
    return image, aligned, mask


def test_pixels_outside_the_mask_are_byte_identical(body):
    image, aligned, mask = body
    result = paste_back(image, 255 - aligned.crop, aligned, mask)
    image_mask = warp_mask_to_image(mask, aligned, image.shape)
    outside = image_mask == 0
    assert outside.mean() > 0.95
    assert np.array_equal(result[outside], image[outside])
    changed = np.any(result != image, axis=2)
    assert changed.sum() > 0.5 * (image_mask > 0.5).sum()
    assert not np.any(changed & outside)
    assert outside_mask_psnr(image, result, image_mask, dilate_px=0) == float("inf")


def test_untouched_crop_pastes_back_almost_invisibly(body):
    image, aligned, mask = body
    result = paste_back(image, aligned.crop, aligned, mask)
    inside = warp_mask_to_image(mask, aligned, image.shape) > 0
    assert np.abs(result.astype(int) - image.astype(int))[inside].mean() < 4.0


def test_a_crop_of_another_size_lands_in_the_same_place(body):
    image, aligned, mask = body
    upscaled = cv2.resize(aligned.crop, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    result = paste_back(image, upscaled, aligned, mask)
    inside = warp_mask_to_image(mask, aligned, image.shape) > 0.5
    assert np.abs(result.astype(int) - image.astype(int))[inside].mean() < 4.0


def test_inplace_writes_into_the_given_image(body):
    image, aligned, mask = body
    target = image.copy()
    returned = paste_back(target, np.zeros_like(aligned.crop), aligned, mask, inplace=True)
    assert returned is target and not np.array_equal(target, image)
    untouched = image.copy()
    paste_back(untouched, np.zeros_like(aligned.crop), aligned, mask)
    assert np.array_equal(untouched, image)


def test_default_mask_keeps_the_crop_border_out(body):
    image, aligned, _ = body
    result = paste_back(image, np.zeros_like(aligned.crop), aligned)
    ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    in_crop = aligned.to_crop(np.stack([xs.ravel(), ys.ravel()], 1)).reshape(image.shape[0], image.shape[1], 2)
    outer_ring = np.any((in_crop <= 0.0) | (in_crop >= aligned.size - 1.0), axis=2)  # on or past the edge pixels
    assert np.array_equal(result[outer_ring], image[outer_ring])
    assert not np.array_equal(result[~outer_ring], image[~outer_ring])


def test_an_empty_mask_changes_nothing(body):
    image, aligned, _ = body
    result = paste_back(image, 255 - aligned.crop, aligned, np.zeros((512, 512), np.float32))
    assert np.array_equal(result, image)


@pytest.mark.parametrize("mask", [np.zeros((512, 256), np.float32), np.full((512, 512), np.nan, np.float32)])
def test_bad_masks_are_refused(body, mask):
    image, aligned, _ = body
    with pytest.raises(InvalidInput):
        paste_back(image, aligned.crop, aligned, mask)


def test_non_square_crops_are_refused(body):
    image, aligned, mask = body
    with pytest.raises(InvalidInput, match="square"):
        paste_back(image, aligned.crop[:, :500], aligned, mask)


def test_a_face_cut_by_the_image_border_pastes_without_error(body):
    image, aligned, mask = body
    from shared.faces import AlignedFace

    matrix = aligned.matrix.copy()
    cx, cy = aligned.to_image(np.array([[256.0, 256.0]]))[0]
    matrix[:, 2] += matrix[:, :2] @ np.array([cx, cy])  # the crop centre now sits on pixel (0, 0)
    corner = AlignedFace(crop=aligned.crop, matrix=matrix, template=aligned.template, size=aligned.size)
    result = paste_back(image, 255 - aligned.crop, corner, mask)
    weight = warp_mask_to_image(mask, corner, image.shape)
    assert weight[0, 0] > 0.9 and (weight > 0).mean() < 0.05
    assert np.array_equal(result[weight == 0], image[weight == 0])
    assert not np.array_equal(result[:20, :20], image[:20, :20])
