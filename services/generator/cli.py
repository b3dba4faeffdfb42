"""`facecast generate` (cast candidate faces into a folder, with a contact sheet) and
`facecast categories` (list, or teach a category from latents of fitting / non-fitting faces)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from services.generator.engines import REGISTRY
from shared.ids import utcnow

THUMB = 256
COLUMNS = 4
BANNER_PX = 40
CAPTION_PX = 24


def register(subparsers) -> None:
    gen = subparsers.add_parser("generate", help="cast candidate faces: PNGs, latents, report and a contact sheet")
    count = gen.add_mutually_exclusive_group()
    count.add_argument("--n", type=int, help="how many faces (default 8): random ones, or from --seed on")
    count.add_argument("--seeds", type=int, nargs="+", help="exact seeds, to make faces again")
    gen.add_argument("--seed", type=int, help="first seed (then seed+1, …) for the --n faces, like the API's "
                     "`seed`; random when absent")
    _engine_args(gen)
    gen.add_argument("--truncation", type=float, default=0.7, help="ψ in [0,1]: 0 = average face, 1 = full variety")
    gen.add_argument("--category", help="steer toward a taught category (e.g. elegant)")
    gen.add_argument("--strength", type=float, help="how far along the category (default: its own)")
    gen.add_argument("--brief", help='free text such as "fresh, cool, summer" or "우아한"')
    gen.add_argument("--near", type=Path, nargs="+", default=[], metavar="LATENT.npy",
                     help="latents of chosen faces: sample more like them")
    gen.add_argument("--spread", type=float, default=0.3, help="with --near: 0 = same face, 1 = unrelated")
    gen.add_argument("--mix", type=float, help="with two --near: blend weight of the second")
    gen.add_argument("--steps", type=int, help="diffusion: denoising steps (default: the pipeline family's)")
    gen.add_argument("--guidance", type=float, help="diffusion: guidance scale (default: the pipeline family's)")
    gen.add_argument("--refiner", help="diffusion with an SDXL base: model-store name of an SDXL refiner")
    gen.add_argument("-o", "--output", type=Path, required=True, help="folder for the PNGs and the contact sheet")
    gen.set_defaults(handler=_generate)

    categories = subparsers.add_parser("categories", help="generator categories (latent directions)")
    sub = categories.add_subparsers(dest="categories_command", required=True)
    lst = sub.add_parser("list", help="categories taught for an engine's weights")
    _engine_args(lst)
    lst.set_defaults(handler=_categories_list)
    teach = sub.add_parser("teach", help="fit a category from latents (.npy) of fitting and non-fitting faces")
    teach.add_argument("name")
    teach.add_argument("--fitting", type=Path, nargs="+", required=True, metavar="LATENT.npy")
    teach.add_argument("--not-fitting", type=Path, nargs="+", required=True, metavar="LATENT.npy")
    _engine_args(teach)
    teach.set_defaults(handler=_categories_teach)


def _engine_args(parser) -> None:
    parser.add_argument("--engine", default=None, choices=REGISTRY.names(),
                        help="demo (the default, as in the API) works out of the box (non-commercial); stylegan2 "
                             "needs imported weights (the default engine when --weights is given)")
    parser.add_argument("--weights", help="stylegan2 weights name in the model store (default stylegan2-ffhq-config-f); "
                                          "diffusion: the pipeline folder's name (default diffusion-pipeline)")


def _engine(args) -> str:
    """The engine the arguments name: `--engine`, else stylegan2 when `--weights` names its weights, else the
    default every entry point shares."""
    from services.generator.contract import DEFAULT_ENGINE

    return args.engine or ("stylegan2" if args.weights else DEFAULT_ENGINE)


def _context():
    from shared.settings import get_settings
    from shared.stage import StageContext
    from shared.weights import ModelStore

    settings = get_settings()
    return StageContext(settings=settings, models=ModelStore.from_settings(settings))


def _generate(args) -> int:
    from services.generator.stage import STAGE
    from shared.stage import StageInputs

    from services.generator.contract import consecutive_seeds
    from shared.errors import InvalidInput

    if args.seed is not None and args.seeds:
        raise InvalidInput("give --seed (the first of --n seeds) or --seeds (each seed), not both")
    raw = {"engine": _engine(args), "truncation": args.truncation, "spread": args.spread}
    if args.seeds:
        raw["seeds"] = args.seeds
    elif args.seed is not None:
        raw["seeds"] = consecutive_seeds(args.seed, args.n or 8)
    else:
        raw["n"] = args.n or 8
    for key in ("weights", "category", "strength", "brief", "mix", "steps", "guidance", "refiner"):
        if getattr(args, key) is not None:
            raw[key] = getattr(args, key)
    params = STAGE.parse_params(raw)
    near = {f"near-{i}": np.load(path, allow_pickle=False) for i, path in enumerate(args.near)}
    result = STAGE.run(params, StageInputs(image=None, extras=near), _context())
    report = result.report

    args.output.mkdir(parents=True, exist_ok=True)
    portraits, captions = [], []
    for i, candidate in enumerate(report["candidates"]):
        stem = f"{report['engine']}-{i:02d}-seed{candidate['seed']}"
        cv2.imwrite(str(args.output / f"{stem}.png"), result.artifacts[candidate["artifact"]])
        np.save(args.output / f"{stem}.npy", result.artifacts[candidate["latent"]], allow_pickle=False)
        portraits.append(result.artifacts[candidate["artifact"]])
        captions.append(f"#{i} seed {candidate['seed']}")
    sheet = contact_sheet(portraits, captions, _banner(report))
    cv2.imwrite(str(args.output / "contact-sheet.png"), sheet)
    (args.output / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"{len(portraits)} faces from {report['engine']} ({report['weights_record']['name']}, "
          f"sha256 {report['weights_record']['sha256'][:12]}…) → {args.output}")
    print(f"licence: {report['licence']}; commercial use: {'yes' if report['commercial_use'] else 'NO'}")
    if report["demo"]:
        print("DEMO engine: low quality and not for commercial use")
    return 0


def _banner(report: dict) -> str:
    if report["demo"]:
        return "DEMO ENGINE - low quality, NOT for commercial use"
    use = "commercial use allowed" if report["commercial_use"] else "NON-COMMERCIAL weights"
    return f"{report['engine']} {report['weights_record']['name']} - {use}"


def contact_sheet(portraits: list[np.ndarray], captions: list[str], banner: str, thumb: int = THUMB,
                  columns: int = COLUMNS) -> np.ndarray:
    """A grid of thumbnails with a caption under each and a banner on top (ASCII text)."""
    columns = max(1, min(columns, len(portraits)))
    rows = -(-len(portraits) // columns)
    cell_h = thumb + CAPTION_PX
    sheet = np.full((BANNER_PX + rows * cell_h, columns * thumb, 3), 255, np.uint8)
    cv2.putText(sheet, banner, (8, BANNER_PX - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 160), 1, cv2.LINE_AA)
    for index, (portrait, caption) in enumerate(zip(portraits, captions)):
        row, col = divmod(index, columns)
        top, left = BANNER_PX + row * cell_h, col * thumb
        sheet[top:top + thumb, left:left + thumb] = cv2.resize(portrait, (thumb, thumb), interpolation=cv2.INTER_AREA)
        cv2.putText(sheet, caption, (left + 6, top + thumb + CAPTION_PX - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (40, 40, 40), 1, cv2.LINE_AA)
    return sheet


def _categories_list(args) -> int:
    from services.generator.casting import load_directions
    from services.generator.engines import load_engine

    ctx = _context()
    engine = load_engine(_engine(args), args.weights, ctx.models)
    library = load_directions(ctx.models, engine.weights.name, engine.weights.sha256, engine.latent_dim)
    if not library.names():
        print(f"no categories taught yet for {engine.weights.name}")
    for name in library.names():
        direction = library.get(name)
        print(f"{name}\tdefault strength {direction.default_strength:.3f}\t{direction.source}")
    return 0


def _categories_teach(args) -> int:
    from services.generator.casting import Direction, fit_direction, save_direction
    from services.generator.engines import load_engine

    ctx = _context()
    engine = load_engine(_engine(args), args.weights, ctx.models)
    fitting = np.stack([np.load(p, allow_pickle=False).reshape(-1) for p in args.fitting])
    not_fitting = np.stack([np.load(p, allow_pickle=False).reshape(-1) for p in args.not_fitting])
    fit = fit_direction(fitting, not_fitting)
    when = utcnow().strftime("%Y-%m-%d")
    source = f"taught {when} from {len(fitting)} fitting and {len(not_fitting)} non-fitting faces"
    save_direction(ctx.models, engine.weights.name, engine.weights.sha256, engine.latent_dim,
                   Direction(args.name, fit.vector, fit.default_strength, source))
    print(f"category {args.name!r} saved for {engine.weights.name}: default strength {fit.default_strength:.3f}, "
          f"training accuracy {fit.training_accuracy:.0%}, shrinkage {fit.shrinkage:.2f}")
    return 0
