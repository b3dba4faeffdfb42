"""What a job is made from: images (files, folders, bytes, URLs, uploads) and steps, and the idempotency key
that maps the same photo, model and steps to the same job."""
from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union
from urllib.parse import unquote, urlparse

from ._errors import FaceCastError

__all__ = ["ImageInput", "IMAGE_SUFFIXES", "STEP_NAMES", "list_photos", "to_inputs", "build_steps", "job_key",
           "default_key"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
STEP_NAMES = ("swap", "enhance", "makeup")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class ImageInput:
    """One picture for a job: bytes (sent as multipart or uploaded first), an https URL (fetched by the
    gateway), an upload id, or an object key of the tenant. `path` is a file read only when its job is
    submitted, so a folder of any size is never held in memory at once. `sha256` is the hex digest of `data`."""
    name: str
    data: Optional[bytes] = None
    url: Optional[str] = None
    upload_id: Optional[str] = None
    key: Optional[str] = None
    content_type: str = "image/jpeg"
    sha256: str = ""
    path: Optional[Path] = None

    def __post_init__(self) -> None:
        if self.data is not None and not self.sha256:
            self.sha256 = hashlib.sha256(self.data).hexdigest()

    def loaded(self) -> "ImageInput":
        """This input with its file's bytes read (itself when it has no file or was read already)."""
        if self.path is None or self.data is not None:
            return self
        return ImageInput(name=self.name, data=self.path.read_bytes(), content_type=self.content_type)

    def as_json(self) -> Dict[str, str]:
        """The API's `ImageSource`: exactly one of `upload_id`, `key`, `url`."""
        if self.upload_id:
            return {"upload_id": self.upload_id}
        if self.key:
            return {"key": self.key}
        if self.url:
            return {"url": self.url}
        raise ValueError("bytes inputs are sent as multipart or uploaded first")


ImageLike = Union[ImageInput, str, "os.PathLike[str]", bytes]


def _guess_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def list_photos(folder: Union[str, "os.PathLike[str]"]) -> List[Path]:
    """Image files (`IMAGE_SUFFIXES`, not hidden) in a folder, not recursive, sorted by name."""
    root = Path(folder)
    if not root.is_dir():
        raise FaceCastError(f"{root} is not a folder")
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))


def to_inputs(images: Any) -> List[ImageInput]:
    """Accept a path, a folder, bytes, an http(s) URL, `"upload:<upload id>"`, an `ImageInput`, or a list of these."""
    if isinstance(images, (str, os.PathLike, bytes, ImageInput)):
        images = [images]
    result: List[ImageInput] = []
    for item in images:
        if isinstance(item, ImageInput):
            result.append(item)
        elif isinstance(item, bytes):
            result.append(ImageInput(name=f"image-{len(result) + 1}.jpg", data=item,
                                     content_type="image/png" if item[:8] == PNG_SIGNATURE else "image/jpeg"))
        elif isinstance(item, str) and item.startswith(("https://", "http://")):
            name = unquote(Path(urlparse(item).path).name) or f"image-{len(result) + 1}"
            result.append(ImageInput(name=name, url=item))
        elif isinstance(item, str) and item.startswith("upload:"):
            upload_id = item[len("upload:"):]
            result.append(ImageInput(name=upload_id, upload_id=upload_id))
        else:
            path = Path(item)
            if path.is_dir():
                result.extend(to_inputs(list_photos(path)))
            elif path.is_file():
                result.append(ImageInput(name=path.name, path=path, content_type=_guess_type(path.name)))
            else:
                raise FaceCastError(f"{path} is neither a file, a folder nor an http(s) URL")
    return result


def build_steps(steps: Union[Sequence[Union[str, Mapping[str, Any]]], str], *, scale: Optional[int] = None,
                look: Optional[str] = None, intensity: Optional[float] = None,
                makeup_reference: Optional[str] = None,
                params: Optional[Mapping[str, Mapping[str, Any]]] = None) -> List[Dict[str, Any]]:
    """`["swap", "enhance"]` or `"swap,enhance"` → the API's step list (`StepSpec`: `{stage, params, inputs}`).

    `scale` (1, 2, 4) goes to enhance; `look` and `intensity` (0..1) to makeup; `makeup_reference` is an upload
    id (from `upload`) of a made-up face to copy the makeup from; `params` maps a step name to extra params.
    Steps given as mappings (`{"stage": …, "params": …, "inputs": …}`) pass through. Raises `FaceCastError`
    for an unknown step name or an empty list."""
    if isinstance(steps, str):
        steps = [s.strip() for s in steps.split(",") if s.strip()]
    result = []
    for step in steps:
        if isinstance(step, Mapping):
            spec = {"stage": step["stage"], "params": dict(step.get("params", {}))}
            if step.get("inputs"):
                spec["inputs"] = dict(step["inputs"])
            result.append(spec)
            continue
        name = step.strip().lower()
        if name not in STEP_NAMES:
            raise FaceCastError(f"unknown step {step!r}: choose from {', '.join(STEP_NAMES)}")
        spec = {"stage": name, "params": dict((params or {}).get(name, {}))}
        if name == "enhance" and scale is not None:
            spec["params"].setdefault("scale", scale)
        if name == "makeup":
            if look is not None:
                spec["params"].setdefault("look", look)
            if intensity is not None:
                spec["params"].setdefault("intensity", intensity)
            if makeup_reference is not None:
                spec["inputs"] = {"reference": {"upload_id": makeup_reference}}
        result.append(spec)
    if not result:
        raise FaceCastError("give at least one step")
    return result


def job_key(image: ImageInput, model: str, steps: List[Dict[str, Any]]) -> str:
    """A deterministic idempotency key (`fc-` + 40 hex digits of a SHA-256): the same photo (by content, else
    by URL, upload id, key or name), model and steps map to the same job."""
    h = hashlib.sha256()
    h.update(json.dumps({"model": model, "steps": steps}, sort_keys=True).encode())
    h.update((image.sha256 or image.url or image.upload_id or image.key or image.name).encode())
    return "fc-" + h.hexdigest()[:40]


def default_key(item: ImageInput, model: str, steps: List[Dict[str, Any]], upload: bool) -> str:
    """Sent as multipart (or by URL), the same photo, model and steps always give the same key, so a
    re-run after a crash finds the job it already made. Through a presigned upload each call makes a
    new upload (another body), so the key is per call; its HTTP retries still share it."""
    if upload and item.data is not None:
        return str(uuid.uuid4())
    return job_key(item, model, steps)
