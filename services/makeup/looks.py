"""Named makeup looks (`looks.json`): region colours and intensities the landmarks engine applies
when no reference photo is given. OpenCV-free (the makeup contract validates look names with it); LAB
colours come from `services.makeup.color` when asked for."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.errors import InvalidInput

LOOKS_FILE = Path(__file__).with_name("looks.json")
Region = Literal["lips", "eyeshadow", "eyeliner", "blush", "brows"]
REGIONS: tuple[str, ...] = get_args(Region)


def hex_rgb(color: str) -> tuple[int, int, int]:
    """'#RRGGBB' (sRGB) as (r, g, b) 0–255; InvalidInput for anything else."""
    text = color.strip().lstrip("#")
    if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise InvalidInput(f"colour {color!r} is not an sRGB hex colour like '#A8162C'")
    r, g, b = (int(text[i:i + 2], 16) for i in (0, 2, 4))
    return r, g, b


class LookRegion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    color: str = Field(description="sRGB hex of the product on skin, e.g. '#A8162C'")
    intensity: float = Field(ge=0.0, le=1.0)

    @field_validator("color")
    @classmethod
    def _is_hex(cls, value: str) -> str:
        hex_rgb(value)
        return value

    def lab(self) -> np.ndarray:
        from services.makeup.color import hex_to_lab

        return hex_to_lab(self.color)


class Look(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str
    regions: dict[Region, LookRegion] = Field(min_length=1)


class LookBook(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    about: str = Field("", alias="_about")
    looks: dict[str, Look] = Field(min_length=1)


@lru_cache(maxsize=1)
def load_looks() -> dict[str, Look]:
    """Every preset, validated once (a broken looks.json fails loudly at first use)."""
    return LookBook.model_validate(json.loads(LOOKS_FILE.read_text())).looks


def look_names() -> list[str]:
    return sorted(load_looks())
