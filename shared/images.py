"""Safe image decoding and encoding.

Uploads are untrusted: the type is read from magic bytes (never the file name), the pixel count is
checked from the header before anything is decoded (decompression bombs), EXIF orientation is applied,
and every supported mode (grayscale, 16-bit, CMYK, palette, alpha) becomes 8-bit BGR, the one layout
the face toolkit and the networks use.

Transparency (a product cut-out as PNG or WebP) is kept around that: the stages work on the image
composited onto white, the decoded image carries its alpha plane, and `encode_image(..., alpha=)`
writes it back (undoing the white compositing where the alpha is partial), so an RGBA photo leaves
every stage with the alpha it came with. `output_alpha` says when that cannot be (a JPEG output).

OpenCV is imported only by the functions that need it (encoding, resizing): the gateway checks headers
with Pillow alone and runs without OpenCV installed.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from shared.errors import ImageTooLarge, UnsupportedImage

CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
DEFAULT_MAX_PIXELS = 40_000_000


def sniff_format(data: bytes) -> str | None:
    """The image format from the first bytes, or None when it is not one we accept."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # H×W×3 uint8, BGR (composited onto white when the image has transparency)
    format: str  # png | jpeg | webp
    had_alpha: bool
    alpha: np.ndarray | None = None  # H×W uint8 when the image has an alpha channel

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def check_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """The format of untrusted bytes whose magic bytes and header say they are an acceptable image, read
    without decoding a pixel: what the gateway checks at the door, in microseconds whatever the photo's
    size (corrupt pixel data is found by the stage that decodes it, which fails the job with the reason)."""
    if not data:
        raise UnsupportedImage("the upload is empty")
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedImage("not a PNG, JPEG or WebP image (checked by its content, not its name)")
    try:
        width, height = header_size(data, fmt)
    except Exception as exc:  # PIL raises many types for broken headers
        raise UnsupportedImage(f"the {fmt} header cannot be read: {exc}") from exc
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image is {width}×{height} = {width * height:,} pixels; the limit is {max_pixels:,}",
            width=width, height=height, max_pixels=max_pixels,
        )
    return fmt


_HEADER_READERS = {"png": PngImagePlugin.PngImageFile, "jpeg": JpegImagePlugin.JpegImageFile,
                   "webp": WebPImagePlugin.WebPImageFile}


def header_size(data: bytes, fmt: str) -> tuple[int, int]:
    """Width and height from the header, read by the format's own plugin: `Image.open` would refuse an image
    past Pillow's decompression-bomb limit before we could say how large it is (and answer 413, not 415)."""
    with _HEADER_READERS[fmt](io.BytesIO(data)) as probe:
        return probe.size


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode untrusted bytes into BGR uint8, refusing non-images and oversized images first."""
    fmt = check_header(data, max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            pixels, had_alpha = _to_bgr(img)
            alpha = np.array(img.convert("RGBA"))[:, :, 3] if had_alpha else None
    except (UnsupportedImage, ImageTooLarge):
        raise
    except Exception as exc:
        raise UnsupportedImage(f"the {fmt} image is truncated or corrupt: {exc}") from exc
    return DecodedImage(pixels=pixels, format=fmt, had_alpha=had_alpha, alpha=alpha)


def _to_bgr(img: Image.Image) -> tuple[np.ndarray, bool]:
    had_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 else 255.0
        gray = np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2), False
    if had_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1]), had_alpha


ALPHA_FORMATS = ("png", "webp")


def output_alpha(source: DecodedImage | None, shape: tuple[int, ...],
                 fmt: str) -> tuple[np.ndarray | None, dict | None]:
    """The alpha plane for a stage's output of `shape` made from `source`: the source's own, resized when
    the stage upscaled; or None and a report warning (`alpha-flattened`) when it cannot be kept."""
    if source is None or source.alpha is None:
        return None, None
    height, width = shape[:2]
    in_height, in_width = source.alpha.shape
    if fmt not in ALPHA_FORMATS:
        reason = f"a {fmt.upper()} output has no transparency"
    elif height * in_width != width * in_height:
        reason = f"the output ({width}×{height}) is not the input ({in_width}×{in_height}) scaled"
    else:
        if (height, width) == (in_height, in_width):
            return source.alpha, None
        import cv2

        return cv2.resize(source.alpha, (width, height), interpolation=cv2.INTER_LINEAR), None
    return None, {"code": "alpha-flattened", "face": None,
                  "message": f"the input's transparency was flattened onto white: {reason}"}


def _uncomposite(pixels: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """BGRA whose compositing onto white gives `pixels` back: the colour under a partial alpha is
    recovered from the white blend the decoder made (C = a·F + (1 − a)·255)."""
    a = alpha.astype(np.float32)[:, :, None] / 255.0
    color = np.where(a > 0, (pixels.astype(np.float32) - 255.0 * (1.0 - a)) / np.maximum(a, 1e-6), pixels)
    return np.dstack([np.clip(color + 0.5, 0, 255).astype(np.uint8), alpha])


def encode_image(pixels: np.ndarray, fmt: str = "png", jpeg_quality: int = 95,
                 alpha: np.ndarray | None = None) -> bytes:
    """Encode BGR uint8 as `fmt`; JPEG at high quality so the garment keeps its detail. With `alpha`
    (PNG and WebP only) the pixels are taken as composited onto white and written as BGRA."""
    import cv2

    if alpha is not None and fmt in ALPHA_FORMATS:
        pixels = _uncomposite(pixels, alpha)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if fmt == "jpeg" else []
    if fmt == "webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, 101]  # lossless
    ok, buf = cv2.imencode("." + EXTENSIONS[fmt], pixels, params)
    if not ok:
        raise UnsupportedImage(f"cannot encode the result as {fmt}")
    return buf.tobytes()


def read_image_file(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    with open(path, "rb") as fh:
        return decode_image(fh.read(), max_pixels)
