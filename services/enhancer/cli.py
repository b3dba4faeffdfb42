"""`facecast enhance IMAGE -o OUT [--scale 2] [--engine ...]`: the enhancer stage on one file."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from services.enhancer.engines import REGISTRY


def register(subparsers) -> None:
    parser = subparsers.add_parser("enhance", help="restore the face(s) in IMAGE and optionally upscale it ×2/×4")
    parser.add_argument("image", type=Path, help="the photo to enhance (PNG, JPEG or WebP)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="result file (.png, .jpg or .webp)")
    parser.add_argument("--scale", type=int, default=1, choices=(1, 2, 4),
                        help="1 = restore faces in place; 2 or 4 = upscale the whole image, then restore faces")
    parser.add_argument("--engine", default=REGISTRY.default, choices=REGISTRY.names(),
                        help="realesrgan works out of the box; the others need imported weights (`facecast models "
                             "import`; `facecast models list` and GET /v1/engines show their licences)")
    parser.add_argument("--blend", type=float, default=0.8, help="0 = the input face, 1 = the fully restored face")
    parser.add_argument("--pre-blur-sigma", type=float, help="blur before restoring, in pixels of a 512-px face")
    parser.add_argument("--restore", default="auto", choices=("auto", "full"),
                        help="auto = restore each face in proportion to its measured degradation (a sharp face is "
                             "left as it is); full = restore every selected face at --blend")
    parser.add_argument("--face-selector", default="largest", choices=("largest", "index", "reference", "all"))
    parser.add_argument("--face-index", type=int, default=0, help="with --face-selector index: 0 = leftmost face")
    parser.add_argument("--reference", type=Path, help="with --face-selector reference: a photo of the person "
                                                       "whose face is to be restored")
    parser.set_defaults(handler=_enhance)


def _enhance(args: argparse.Namespace) -> int:
    from services.enhancer.contract import REFERENCE_INPUT
    from services.enhancer.stage import STAGE
    from services.local_run import run_stage_on_files

    raw = {"engine": args.engine, "scale": args.scale, "blend": args.blend, "face_selector": args.face_selector,
           "face_index": args.face_index, "restore": args.restore}
    if args.pre_blur_sigma is not None:
        raw["pre_blur_sigma"] = args.pre_blur_sigma
    extras = {REFERENCE_INPUT: args.reference} if args.reference is not None else {}
    report = run_stage_on_files(STAGE, raw, args.image, extras, args.output)
    print(json.dumps(report, indent=2))
    return 0
