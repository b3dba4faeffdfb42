"""Swap realism over the development set (issue 13): every figure of shared/faces/realism.py for every
(source, target) pair, grouped by failure kind, and before/after contact sheets to look at.

For each pair of `tests/data/realism/make_variants.py` the swapper stage runs with the default
`classical` engine; the figures are measured here, independently of the stage's own report, on the
target's largest face (found at 16 px and up; a turned target is measured turned back upright) against
the clean source portrait's SFace embedding. A pair passes when it meets the issue's five criteria
(teeth ≤ 3 % of the mouth, sharpness 0.6–1.8 ×, tone gap ≤ 5 ΔE, dark patches ≤ 3 %, closer to the
source than to the original); a face cut by the frame passes when it is left byte-identical and the
report says `face-cut-by-frame`.

    python bench/realism.py [--kinds expression,tone] [--out test-artifacts/realism] [--json FILE]
                            [--baseline FILE]   # print each figure's change against an earlier --json
                            [--reuse]           # re-measure the results an earlier run saved (no swapping)
                            [--cross]           # the wider set (make_variants.CROSS_SPECS) instead
                            [--sizes]           # faces 48–128 px wide on shop canvases (make_variants.SIZE_SPECS)
                            [--full-body]       # faces 24–36 px wide (make_variants.FULL_BODY_SPECS)
                            [--turned]          # heads turned from the camera (make_variants.TURNED_SPECS)
                            [--high-key]        # shop photos one and two stops over (make_variants.HIGH_KEY_SPECS)

Sheets: `<out>/<kind>.png`, one row per pair: source | target | result | target face | result face,
the figures under it (red: misses its bar). Each result and its stage report are kept under
`<out>/results/` (lossless PNG), so `--reuse` can re-measure them.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from services.swapper.stage import STAGE  # noqa: E402
from shared.errors import FaceCastError  # noqa: E402
from shared.faces import CRITERIA, RealismThresholds  # noqa: E402
from shared.images import DecodedImage  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.stage import StageContext, StageInputs  # noqa: E402
from shared.weights import ModelStore  # noqa: E402
from tests.data.realism.make_variants import (CROSS_SPECS, FULL_BODY_SPECS, KINDS, SIZE_SPECS, SPECS,  # noqa: E402
                                              HIGH_KEY_SPECS, TURNED_SPECS, PairSpec, build)
from tests.data.realism.make_variants import measure as measure_pair  # noqa: E402

FIGURES = ("tone_gap_delta_e", "sharpness_ratio", "seam_excess_delta_e", "skin_colour_delta_e", "teeth_added",
           "dark_patches", "identity_to_source", "identity_to_original")
# the sets beside the development set, each chosen by its own flag and named by its pairs' kind
WIDER_SETS = {"cross": CROSS_SPECS, "sizes": SIZE_SPECS, "full-body": FULL_BODY_SPECS, "turned": TURNED_SPECS,
              "high-key": HIGH_KEY_SPECS}
SHORT = {"tone_gap_delta_e": "tone", "sharpness_ratio": "sharp", "seam_excess_delta_e": "seam",
         "skin_colour_delta_e": "colour", "teeth_added": "teeth", "dark_patches": "dark",
         "identity_to_source": "id→src", "identity_to_original": "id→orig"}


def _decoded(pixels: np.ndarray) -> DecodedImage:
    return DecodedImage(pixels=pixels, format="png", had_alpha=False)


def swap(ctx: StageContext, source: np.ndarray, target: np.ndarray):
    """(output image, report) of the swapper stage, or (None, error) when the stage refuses."""
    inputs = StageInputs(image=_decoded(target), extras={"source": _decoded(source)})
    try:
        output = STAGE.run(STAGE.parse_params({"engine": "classical"}), inputs, ctx)
    except FaceCastError as exc:
        return None, {"error": type(exc).__name__, "message": exc.message}
    return output.image, output.report


def measure(spec: PairSpec, pair, output: np.ndarray | None, report: dict, thresholds: RealismThresholds) -> dict:
    """The row of one pair: figures, the five criteria, verdict, and what the sheet needs."""
    row = {"kind": spec.kind, "pair": spec.name, "expect": spec.expect, "figures": None, "criteria": None,
           "error": report.get("error") if output is None else None, "stage_warnings": [], "face_box": None}
    if output is not None:
        row["stage_warnings"] = sorted({w.get("code", "?") for w in report.get("warnings", [])}
                                       | {w.get("code", "?") for f in report.get("faces", [])
                                          for w in f.get("warnings", [])})
    if spec.expect == "unchanged":
        unchanged = output is not None and np.array_equal(output, pair.target)
        said = "face-cut-by-frame" in row["stage_warnings"]
        row["passed"] = bool(unchanged and said)
        row["note"] = f"unchanged={unchanged} reason={'face-cut-by-frame' if said else 'missing'}"
        return row
    if output is None:
        # a covered source may be refused with the reason (issue 13); any other refusal is a failure
        row["passed"] = spec.source_occluded and "source" in report["message"]
        row["note"] = f"refused: {report['message'][:90]}"
        return row
    measured = measure_pair(spec, pair, output, thresholds)
    row["figures"], row["criteria"], row["passed"] = measured["figures"], measured["criteria"], measured["passed"]
    row["note"] = "" if row["passed"] else "fails " + ", ".join(k for k, ok in row["criteria"].items() if not ok)
    row["face_box"] = [float(v) for v in measured["face"].box]
    row["_upright"] = (measured["target"], measured["result"])
    return row


def _fmt(value, name: str) -> str:
    if value is None:
        return "–"
    if name in ("teeth_added", "dark_patches"):
        return f"{value:.3f}"
    return f"{value:.2f}"


def print_table(rows: list[dict], baseline: dict | None) -> None:
    header = f"{'kind':10s} {'pair':46s} " + " ".join(f"{SHORT[n]:>7s}" for n in FIGURES) + "  pass  note"
    print(header)
    print("-" * len(header))
    for row in rows:
        figures = row["figures"] or {}
        cells = []
        for name in FIGURES:
            cell = _fmt(figures.get(name), name)
            if name == "tone_gap_delta_e" and figures.get("tone_reference") == "face":
                cell += "*"  # no neck visible: measured against the original face's tone
            old = (baseline or {}).get(row["pair"], {}).get("figures") or {}
            if baseline is not None and figures.get(name) is not None and old.get(name) is not None:
                cell = f"{cell}({figures[name] - old[name]:+.2f})"
            cells.append(f"{cell:>7s}")
        print(f"{row['kind']:10s} {row['pair']:46s} " + " ".join(cells) + f"  {'yes' if row['passed'] else 'NO ':4s}  "
              + row["note"] + (f"  [stage: {', '.join(row['stage_warnings'])}]" if row["stage_warnings"] else ""))
    print()
    print(f"{'kind':10s} {'pairs':>5s} {'pass':>5s} {'refused':>7s}  " + " ".join(f"{SHORT[n]:>7s}" for n in FIGURES)
          + "   (medians of the measured pairs; refused: a covered source refused with the reason)")
    for kind in [k for k in (*KINDS, *WIDER_SETS) if any(r["kind"] == k for r in rows)] + ["all"]:
        chosen = [r for r in rows if kind in ("all", r["kind"])]
        medians = []
        for name in FIGURES:
            values = [r["figures"][name] for r in chosen if r["figures"] and r["figures"].get(name) is not None]
            medians.append(f"{_fmt(statistics.median(values), name) if values else '–':>7s}")
        refused = sum(1 for r in chosen if r["expect"] == "swap" and r["figures"] is None and r["passed"])
        print(f"{kind:10s} {len(chosen):5d} {sum(r['passed'] for r in chosen):5d} {refused:7d}  " + " ".join(medians))
    per_criterion = {c: sum(1 for r in rows if r["criteria"] and r["criteria"][c]) for c in CRITERIA}
    measured = sum(1 for r in rows if r["criteria"])
    print("* tone measured against the original face (no neck visible)")
    print("\nfull-face pairs meeting each criterion (of %d measured): " % measured
          + ", ".join(f"{c} {n}" for c, n in per_criterion.items()))


# ---------------------------------------------------------------------------------------------- sheets

def _fit(image: np.ndarray, size: int) -> np.ndarray:
    scale = size / max(image.shape[:2])
    resized = cv2.resize(image, None, fx=scale, fy=scale,
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    tile = np.full((size, size, 3), 32, np.uint8)
    y, x = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    tile[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
    return tile


def _face_crop(image: np.ndarray, box, size: int) -> np.ndarray:
    x, y, w, h = box
    side = 1.6 * max(w, h)
    cx, cy = x + w / 2, y + h / 2 + 0.1 * h
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(image.shape[1], cx + side / 2)), int(min(image.shape[0], cy + side / 2))
    return _fit(image[y0:y1, x0:x1], size)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    cv2.putText(tile, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(tile, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def sheet_row(row: dict, pair, output: np.ndarray | None, size: int = 280) -> np.ndarray:
    tiles = [_label(_fit(pair.source, size), "source"), _label(_fit(pair.target, size), "target"),
             _label(_fit(output, size) if output is not None else np.full((size, size, 3), 32, np.uint8),
                    "result" if output is not None else "refused")]
    if "_upright" in row:
        target, result = row["_upright"]
        tiles += [_label(_face_crop(target, row["face_box"], size), "target face"),
                  _label(_face_crop(result, row["face_box"], size), "result face")]
    else:
        tiles += [np.full((size, size, 3), 32, np.uint8)] * 2
    band = np.full((62, size * 5, 3), 250, np.uint8)
    verdict = "PASS" if row["passed"] else "FAIL"
    cv2.putText(band, f"{row['kind']}: {row['pair'].replace('→', ' > ')}  {verdict}  {row['note'][:70]}", (6, 20),
                cv2.FONT_HERSHEY_SIMPLEX, 0.52, (0, 120, 0) if row["passed"] else (0, 0, 200), 1, cv2.LINE_AA)
    x = 6
    figures = row["figures"] or {}
    criteria = row["criteria"] or {}
    owner = {"tone_gap_delta_e": "tone_gap_delta_e", "sharpness_ratio": "sharpness_ratio",
             "teeth_added": "teeth_added", "dark_patches": "dark_patches", "identity_to_source": "identity",
             "identity_to_original": "identity"}
    for name in FIGURES:
        if name not in figures:
            continue
        text = f"{SHORT[name]} {_fmt(figures[name], name)}".replace("→", ">")
        if name == "tone_gap_delta_e" and figures.get("tone_reference") == "face":
            text += " (face)"
        bad = owner.get(name) in criteria and not criteria[owner[name]]
        cv2.putText(band, text, (x, 48), cv2.FONT_HERSHEY_SIMPLEX, 0.52, (0, 0, 210) if bad else (40, 40, 40), 1,
                    cv2.LINE_AA)
        x += 12 * len(text) + 18
    if row["stage_warnings"]:
        cv2.putText(band, "stage: " + ", ".join(row["stage_warnings"])[:60], (x, 48), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (120, 60, 0), 1, cv2.LINE_AA)
    return np.vstack([np.hstack(tiles), band])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--out", default=str(REPO / "test-artifacts" / "realism"))
    parser.add_argument("--json", default=None, help="write every row's figures here")
    parser.add_argument("--baseline", default=None, help="an earlier --json: print each figure's change")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the results saved by an earlier run (<out>/results) instead of swapping")
    parser.add_argument("--cross", action="store_true",
                        help="the wider set: two portraits on every upright target without glasses (kind 'cross')")
    parser.add_argument("--sizes", action="store_true",
                        help="two portraits on four shop canvases with faces 48, 64, 96 and 128 px wide (kind 'sizes')")
    parser.add_argument("--full-body", action="store_true",
                        help="five portraits on six shop canvases with faces 24, 30 and 36 px wide (kind 'full-body')")
    parser.add_argument("--turned", action="store_true",
                        help="two portraits on nine heads turned from the camera, as they are and on a shop canvas")
    parser.add_argument("--high-key", action="store_true",
                        help="two portraits on six shop canvases one and two stops over (kind 'high-key')")
    args = parser.parse_args()
    wider = next((kind for kind in WIDER_SETS if getattr(args, kind.replace("-", "_"))), None)
    kinds = (wider,) if wider else tuple(k for k in args.kinds.split(",") if k)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    baseline = None
    if args.baseline:
        baseline = {r["pair"]: r for r in json.loads(Path(args.baseline).read_text())["rows"]}
    thresholds = RealismThresholds()
    with tempfile.TemporaryDirectory(prefix="facecast-realism-") as folder:  # the stage's data dir, emptied after
        rows = run(args, kinds, out, Path(folder), thresholds)
    print_table(rows, baseline)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=1, default=str))


def run(args, kinds: tuple[str, ...], out: Path, folder: Path, thresholds: RealismThresholds) -> list[dict]:
    """Every pair of `kinds` swapped (or re-read with --reuse) and measured; writes the sheets."""
    ctx = StageContext(settings=Settings(data_dir=folder), models=ModelStore(root=folder / "models"))
    rows, sheets = [], {}
    started = time.perf_counter()
    for spec in (*SPECS, *(spec for specs in WIDER_SETS.values() for spec in specs)):
        if spec.kind not in kinds:
            continue
        pair = build(spec)
        saved = out / "results" / f"{spec.kind}__{spec.name.replace('→', '__').replace('+', '_')}"
        if args.reuse and saved.with_suffix(".json").exists():
            report = json.loads(saved.with_suffix(".json").read_text())
            output = cv2.imread(str(saved.with_suffix(".png"))) if saved.with_suffix(".png").exists() else None
        else:
            output, report = swap(ctx, pair.source, pair.target)
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.with_suffix(".json").write_text(json.dumps(report, default=str))
            if output is not None:
                cv2.imwrite(str(saved.with_suffix(".png")), output)
        row = measure(spec, pair, output, report, thresholds)
        sheets.setdefault(spec.kind, []).append(sheet_row(row, pair, output))
        row.pop("_upright", None)
        rows.append(row)
    for kind, parts in sheets.items():
        cv2.imwrite(str(out / f"{kind}.png"), np.vstack(parts))
    print(f"sheets: {', '.join(str(out / f'{k}.png') for k in sheets)}   ({time.perf_counter() - started:.0f} s)\n")
    return rows


if __name__ == "__main__":
    main()
