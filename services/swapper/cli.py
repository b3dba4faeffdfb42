"""`facecast swap TARGET SOURCE -o OUT [--engine ...]`: the swapper stage on local files."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from services.swapper.engines import REGISTRY


def register(subparsers) -> None:
    parser = subparsers.add_parser("swap", help="put the face of SOURCE (a portrait) on the face(s) in TARGET")
    parser.add_argument("target", type=Path, help="the product photo (PNG, JPEG or WebP)")
    parser.add_argument("source", type=Path, help="the portrait whose face goes in (the virtual model)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="result file (.png, .jpg or .webp)")
    parser.add_argument("--engine", default=REGISTRY.default, choices=REGISTRY.names(),
                        help="classical works out of the box; the others need imported weights (`facecast models "
                             "import`; `facecast models list` and GET /v1/engines show their licences)")
    parser.add_argument("--face-selector", default="largest", choices=("largest", "index", "reference", "all"))
    parser.add_argument("--face-index", type=int, default=0, help="with --face-selector index: 0 = leftmost face")
    parser.add_argument("--reference", type=Path, help="with --face-selector reference: a photo of the person "
                                                       "whose face is to be replaced")
    parser.add_argument("--blend", type=float, default=1.0, help="0 = original face, 1 = the full swap")
    parser.add_argument("--no-color-match", dest="color_match", action="store_false",
                        help="keep the source's skin colour instead of matching the target's")
    parser.add_argument("--no-keep-occlusions", dest="keep_occlusions", action="store_false",
                        help="paint over hands, hair or glasses in front of the face")
    parser.set_defaults(handler=_swap)


def _swap(args: argparse.Namespace) -> int:
    from services.local_run import run_stage_on_files
    from services.swapper.contract import REFERENCE_INPUT, SOURCE_INPUT
    from services.swapper.stage import STAGE

    raw = {"engine": args.engine, "face_selector": args.face_selector, "face_index": args.face_index,
           "blend": args.blend, "color_match": args.color_match, "keep_occlusions": args.keep_occlusions}
    extras = {SOURCE_INPUT: args.source}
    if args.reference is not None:
        extras[REFERENCE_INPUT] = args.reference
    report = run_stage_on_files(STAGE, raw, args.target, extras, args.output, image_role="target")
    print(json.dumps(report, indent=2))
    return 0
