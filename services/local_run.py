"""Run one stage on local files: what `facecast enhance`, `swap` and `makeup` share.

Errors are raised, not printed: `services/cli.py::main` turns a FaceCastError or a pydantic
ValidationError into one line on stderr and exit code 2.
"""
from __future__ import annotations

from pathlib import Path

OUTPUT_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}


def output_format(path: Path) -> str:
    """The image format to write `path` in, from its suffix; InvalidInput for any other suffix."""
    from shared.errors import InvalidInput

    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(f"output {path} must end in one of {', '.join(OUTPUT_FORMATS)}")
    return fmt


def read_input(path: Path, max_pixels: int, role: str):
    """Decode one input file; errors name its role ("image", "reference", ...) and path."""
    from shared.errors import InvalidInput, UnsupportedImage
    from shared.images import read_image_file

    if not path.is_file():
        raise InvalidInput(f"{role} file {path} does not exist")
    try:
        return read_image_file(str(path), max_pixels)
    except UnsupportedImage as exc:
        raise UnsupportedImage(f"{role} {path}: {exc.message}", **exc.details) from exc


def run_stage_on_files(stage, raw_params: dict, image_path: Path, extra_image_paths: dict[str, Path],
                       output_path: Path, *, image_role: str = "image") -> dict:
    """Run `stage` on the photo at `image_path` (plus extra inputs by role), write the result to
    `output_path` in the format of its suffix, and return the stage's report with "output" first."""
    from shared.images import encode_image, output_alpha
    from shared.settings import get_settings
    from shared.stage import StageContext, StageInputs
    from shared.weights import ModelStore

    fmt = output_format(output_path)
    params = stage.parse_params(raw_params)
    settings = get_settings()
    image = read_input(image_path, settings.max_pixels, image_role)
    extras = {role: read_input(path, settings.max_pixels, role) for role, path in extra_image_paths.items()}
    result = stage.run(params, StageInputs(image=image, extras=extras),
                       StageContext(settings=settings, models=ModelStore.from_settings(settings)))
    output_path.parent.mkdir(parents=True, exist_ok=True)
    alpha, flattened = output_alpha(image, result.image.shape, fmt)  # a transparent photo stays transparent
    if image.alpha is not None:
        result.report["alpha"] = "kept" if alpha is not None else "flattened"
    if flattened:
        result.report.setdefault("warnings", []).append(flattened)
    output_path.write_bytes(encode_image(result.image, fmt, alpha=alpha))
    return {"output": str(output_path), **result.report}

