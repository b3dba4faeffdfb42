"""`facecast faces detect IMAGE [--json]` and `facecast faces crop IMAGE --template ffhq512 -o out.png`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shared.errors import FaceCastError, NoFaceFound


def register(subparsers) -> None:
    faces = subparsers.add_parser("faces", help="face toolkit: detect faces, write aligned face crops")
    commands = faces.add_subparsers(dest="faces_command", required=True)

    detect = commands.add_parser("detect", help="print every face: box, score, 5 points, mesh landmark count")
    detect.add_argument("image", type=Path)
    detect.add_argument("--json", action="store_true", help="machine-readable output ([] when there is no face)")
    detect.add_argument("--min-score", type=float, default=None)
    detect.add_argument("--min-face-px", type=float, default=None, help="smallest face width to search for")
    detect.set_defaults(handler=_detect)

    from shared.faces.align import TEMPLATES

    crop = commands.add_parser("crop", help="write one face aligned to a template")
    crop.add_argument("image", type=Path)
    crop.add_argument("--template", default="ffhq512", choices=sorted(TEMPLATES))
    crop.add_argument("-o", "--output", type=Path, required=True)
    crop.add_argument("--face-index", type=int, default=None, help="the n-th face left to right (default: largest)")
    crop.set_defaults(handler=_crop)


def _detect(args) -> int:
    from shared.faces.detect import detect_faces
    from shared.faces.mesh import image_face_mesh

    try:
        image = _read(args.image)
        faces = detect_faces(image, min_score=args.min_score, min_face_px=args.min_face_px)
    except FaceCastError as exc:
        return _fail(exc)
    rows = []
    for face in faces:
        row = face.as_dict()
        try:
            row["mesh_landmarks"] = int(len(image_face_mesh(image, face)))
        except NoFaceFound:
            row["mesh_landmarks"] = 0
        rows.append(row)
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("no face found")
    for i, row in enumerate(rows):
        x, y, w, h = row["box"]
        points = " ".join(f"({px:.0f},{py:.0f})" for px, py in row["landmarks5"])
        print(f"face {i}: box x={x:.0f} y={y:.0f} w={w:.0f} h={h:.0f} score={row['score']:.3f} "
              f"roll={row['roll']:.0f}° points {points} mesh={row['mesh_landmarks']}")
    return 0


def _crop(args) -> int:
    import cv2

    from shared.faces.align import align_face
    from shared.faces.select import FaceSelection, find_faces

    selection = (FaceSelection() if args.face_index is None
                 else FaceSelection(face_selector="index", face_index=args.face_index))
    try:
        image = _read(args.image)
        face = find_faces(image, selection)[0]
        aligned = align_face(image, face, args.template)
    except FaceCastError as exc:
        return _fail(exc)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.output), aligned.crop):
        print(f"error: cannot write {args.output} (use a .png or .jpg name)", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({aligned.size}×{aligned.size}, template {args.template}, "
          f"face width {face.width:.0f} px)")
    return 0


def _read(path: Path):
    from shared.errors import InvalidInput
    from shared.images import decode_image

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
    return decode_image(data).pixels


def _fail(exc: FaceCastError) -> int:
    print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facecast")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
