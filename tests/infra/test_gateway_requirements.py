"""The gateway image's requirements (requirements/gateway.txt, issue 15 §2): the lock's versions exactly, and
none of the model stack."""
from __future__ import annotations

import re
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements"
MODEL_STACK = {"torch", "opencv-contrib-python", "opencv-python", "mediapipe", "ncnn", "onnxruntime", "onnx",
               "diffusers", "transformers"}


def pins(path: Path) -> dict[str, str]:
    """{normalised name: version} of every `name[extras]==version` line."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return found


def test_the_gateway_pins_are_the_lock_pins_without_the_model_stack():
    gateway, lock = pins(REQUIREMENTS / "gateway.txt"), pins(REQUIREMENTS / "lock.txt")
    assert {"fastapi", "uvicorn", "sqlalchemy", "aiokafka", "minio", "pillow"} <= set(gateway)
    assert {name: version for name, version in gateway.items() if lock.get(name) != version} == {}
    assert MODEL_STACK & set(gateway) == set()
