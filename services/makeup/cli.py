"""`facecast makeup IMAGE (--reference REF | --look NAME) -o OUT`: the makeup stage on one file."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from services.makeup.color import REGIONS
from services.makeup.engines import REGISTRY


def register(subparsers) -> None:
    parser = subparsers.add_parser("makeup", help="put a makeup look (reference photo or preset) on the face(s)")
    parser.add_argument("image", type=Path, help="the photo to make up (PNG, JPEG or WebP)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--reference", type=Path, help="a photo of a made-up face whose look to transfer")
    source.add_argument("--look", help="a preset look (see services/makeup/looks.json), e.g. autumn-warm")
    parser.add_argument("-o", "--output", type=Path, required=True, help="result file (.png, .jpg or .webp)")
    parser.add_argument("--engine", default=REGISTRY.default, choices=REGISTRY.names(),
                        help="landmarks works out of the box; the others need imported weights (`facecast models "
                             "import`; `facecast models list` and GET /v1/engines show their licences)")
    parser.add_argument("--regions", nargs="+", choices=REGIONS, help="only these regions (default: all of the look)")
    parser.add_argument("--intensity", type=float, default=1.0, help="0 = unchanged, 1 = the full look")
    parser.add_argument("--region-intensity", nargs="+", default=[], metavar="REGION=VALUE",
                        help="per-region intensity, e.g. lips=1 blush=0.3")
    parser.add_argument("--face-selector", default="largest", choices=("largest", "index", "all"))
    parser.add_argument("--face-index", type=int, default=0, help="with --face-selector index: 0 = leftmost face")
    parser.set_defaults(handler=_makeup)


def _makeup(args: argparse.Namespace) -> int:
    from services.local_run import run_stage_on_files
    from services.makeup.contract import REFERENCE_INPUT
    from services.makeup.stage import STAGE

    raw = {"engine": args.engine, "intensity": args.intensity, "face_selector": args.face_selector,
           "face_index": args.face_index, "region_intensity": _region_intensities(args.region_intensity)}
    if args.look is not None:
        raw["look"] = args.look
    if args.regions:
        raw["regions"] = args.regions
    extras = {} if args.reference is None else {REFERENCE_INPUT: args.reference}
    report = run_stage_on_files(STAGE, raw, args.image, extras, args.output)
    print(json.dumps(report, indent=2))
    return 0


def _region_intensities(pairs: list[str]) -> dict[str, float]:
    from shared.errors import InvalidInput

    values = {}
    for pair in pairs:
        region, _, value = pair.partition("=")
        try:
            values[region] = float(value)
        except ValueError:
            raise InvalidInput(f"--region-intensity takes REGION=VALUE pairs such as lips=0.8, got {pair!r}") from None
    return values
