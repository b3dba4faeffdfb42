"""Params that several stages' contracts share (torch- and OpenCV-free, so the gateway validates them)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class FaceSelection(BaseModel):
    """`largest` face, the `face_index`-th face counted left to right, the face closest to a
    `reference` identity embedding, or `all` faces."""
    face_selector: Literal["largest", "index", "reference", "all"] = "largest"
    face_index: int = Field(0, ge=0)
