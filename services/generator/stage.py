"""The generator stage: cast candidate faces (images + latents) for a seller to choose from.

One request asks for N faces from seeds (or N random ones), optionally steered by categories (by
name or through a free-text brief), or sampled near faces chosen earlier (step inputs `near-0`,
`near-1`, … holding their latents), or near a mix of two. Every candidate comes back as the
artifacts `candidate-<i>` (BGR portrait) and `latent-<i>` (float32 latent), and the report names
the engine, its weights hash and licence, and each candidate's seed, so any face can be made again.

A casting may be split into several requests (the gateway makes one step per chunk, so candidates
show as they are made): `first_index` is the casting-wide index of a request's first candidate. It
names the artifacts (`candidate-<first_index + k>`) and picks each candidate's near-face
(`near[(first_index + k) % len(near)]`), so a chunk gives byte for byte the candidates that the
whole casting in one request gives at those indices.

Every candidate is checked as accepting it would check it (`candidate_check.check_acceptable`); one that
would be refused (no face found, cut by the border, glasses: about one demo face in ten) is made again from
its next seed, and the report names its requested and used seeds and why each was replaced.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np

from services.generator import candidate_check, casting
from services.generator.contract import (CONTRACT, DIRECTION, FIT, FITS_INPUT, MAX_NEAR, NEAR_INPUT, NOT_FITS_INPUT,
                                         SEED_MAX, FitParams, GeneratorParams, steering_requests)
from services.generator.engines import DCGAN_WEIGHTS, REGISTRY, STYLEGAN2_DEFAULT_WEIGHTS
from services.generator.engines.base import CastingEngine
from shared.errors import InvalidInput
from shared.stage import StageContext, StageDefinition, StageInputs, StageOutput, isolated, one_event
from shared.weights import ModelStore

@dataclass
class CastingPlan:
    """The candidates one request will render (each slot's `render_for(seed)` is its latent), and its report
    so far."""
    engine: CastingEngine
    slots: list[candidate_check.Slot]
    report: dict


def near_latents(extras: dict, dim: int, engine_name: str) -> list[tuple[str, np.ndarray]]:
    """The `near-<i>` step inputs in index order, each checked to be one latent of this engine."""
    found = []
    for name, value in extras.items():
        match = NEAR_INPUT.match(name)
        if not match:
            raise InvalidInput(f"the generator reads only near-<i> inputs (latents of chosen faces), got {name!r}")
        if not isinstance(value, np.ndarray):
            raise InvalidInput(f"{name} must be a latent (.npy array), not an image")
        vector = value.astype(np.float32).reshape(-1)
        if vector.size != dim:
            raise InvalidInput(f"{name} has {vector.size} values; {engine_name} latents have {dim}")
        if not np.isfinite(vector).all():
            raise InvalidInput(f"{name} contains NaN or infinity")
        found.append((int(match.group(1)), name, vector))
    if len(found) > MAX_NEAR:
        raise InvalidInput(f"at most {MAX_NEAR} near-latents per request, got {len(found)}")
    return [(name, vector) for _, name, vector in sorted(found)]


def plan(params: GeneratorParams, inputs: StageInputs, ctx: StageContext) -> CastingPlan:
    engine: CastingEngine = REGISTRY.load(params.engine, ctx.models, ctx.settings, params.weights)
    anchors = near_latents(inputs.extras, engine.latent_dim, params.engine)
    seeds = params.seeds if params.seeds is not None else [secrets.randbelow(SEED_MAX + 1) for _ in range(params.n)]
    if params.mix is not None:
        if len(anchors) != 2:
            raise InvalidInput(f"`mix` blends two chosen faces: give exactly near-0 and near-1 (got {len(anchors)})")
        (name_a, a), (name_b, b) = anchors
        anchors = [(f"mix({name_a},{name_b},{params.mix:g})", casting.mix_latents(a, b, params.mix))]
    requests, brief_matches = steering_requests(params, ctx.models)
    offset, applied = None, []
    if requests:
        library = casting.load_directions(ctx.models, engine.weights.name, engine.weights.sha256, engine.latent_dim)
        offset, applied = library.steering(requests)

    def latent_near(anchor: np.ndarray | None):
        def latent_for(seed: int) -> np.ndarray:
            latent = engine.seed_latents([seed], params.truncation)[0]
            if anchor is not None:
                latent = casting.sample_near(anchor, latent, engine.center(), params.spread)
            return latent if offset is None else (latent + offset).astype(np.float32)
        return latent_for

    first = params.first_index
    slots = []
    for i, seed in enumerate(seeds):
        name, anchor = anchors[(first + i) % len(anchors)] if anchors else (None, None)
        slots.append(candidate_check.Slot(index=first + i, requested_seed=seed, anchor=name,
                                          render_for=latent_near(anchor)))
    report = {**engine.describe(), "seeds": seeds, "truncation": params.truncation, "categories": applied,
              "brief": {"text": params.brief, "matched": brief_matches} if params.brief else None,
              "near": [name for name, _ in anchors] if anchors else [], "spread": params.spread if anchors else None,
              "mix": params.mix, "first_index": first}
    return CastingPlan(engine=engine, slots=slots, report=report)


def run_batch(items: list[tuple[GeneratorParams, StageInputs]], ctx: StageContext) -> list[StageOutput | Exception]:
    """Several requests in one go: requests for the same loaded engine are rendered in one `run_batch`;
    a request that fails (its plan or its engine's pass) gets its exception in its place. Requests for the
    diffusion engine go to `diffusion_casting` (prompts, checked candidates) in the same way."""
    from services.generator import diffusion_casting

    diffusion = [i for i, (params, _) in enumerate(items) if params.engine == "diffusion"]
    made = diffusion_casting.run_batch([items[i] for i in diffusion], ctx) if diffusion else []
    results: list = [None if i in diffusion else isolated(plan, params, inputs, ctx)
                     for i, (params, inputs) in enumerate(items)]
    for i, result in zip(diffusion, made):
        results[i] = result
    plans = {i: p for i, p in enumerate(results) if isinstance(p, CastingPlan)}
    for engine in {id(p.engine): p.engine for p in plans.values()}.values():
        mine = [i for i, p in plans.items() if p.engine is engine]

        def render(latents: list[np.ndarray], engine=engine) -> list[tuple[np.ndarray, np.ndarray]]:
            return list(zip(latents, engine.run_batch([np.stack(latents)], ctx)[0]))
        made = isolated(candidate_check.make_checked, [slot for i in mine for slot in plans[i].slots], render,
                        candidate_check.check_acceptable, lambda result: result[1])
        for i in mine:
            results[i] = made if isinstance(made, Exception) else _output(plans[i])
    return results


def _output(p: CastingPlan) -> StageOutput:
    """Each slot's portrait and latent as `candidate-<i>` and `latent-<i>`, its seeds and check in the report."""
    artifacts: dict[str, np.ndarray] = {}
    candidates = []
    for slot in p.slots:
        latent, portrait = slot.result
        artifacts[f"candidate-{slot.index}"], artifacts[f"latent-{slot.index}"] = portrait, latent
        candidates.append({**slot.public(), "artifact": f"candidate-{slot.index}", "latent": f"latent-{slot.index}"})
    report = {**p.report, "candidates": candidates, "replacements": sum(len(s.rejected) for s in p.slots),
              "failed_checks": sum(not s.check.passed for s in p.slots)}
    return StageOutput(image=None, report=report, artifacts=artifacts)


run = one_event(run_batch)


def latent_weights(engine: str, models: ModelStore) -> tuple[str, str]:
    """(weights name, sha256) that the engine's latents belong to: its categories are saved for them."""
    if engine == "demo":
        return DCGAN_WEIGHTS.name, DCGAN_WEIGHTS.sha256
    if engine == "stylegan2":
        models.require([STYLEGAN2_DEFAULT_WEIGHTS])
        return STYLEGAN2_DEFAULT_WEIGHTS, models.records()[STYLEGAN2_DEFAULT_WEIGHTS].sha256
    raise InvalidInput(f"the {engine} engine has no latents to fit a category on; give its category words instead")


def fit(params: FitParams, inputs: StageInputs, ctx: StageContext) -> StageOutput:
    """The fit step: the LDA direction between the `fits-<i>` and `does-not-fit-<i>` latents
    (casting.fit_direction), saved in the model store as category `params.name` of the engine's weights and
    returned as the `direction` artifact (float32 unit vector) with the fit's figures."""
    groups: dict[str, list[tuple[int, np.ndarray]]] = {FITS_INPUT: [], NOT_FITS_INPUT: []}
    for name, value in inputs.extras.items():
        kind, _, number = name.rpartition("-")
        if kind not in groups or not number.isdigit() or not isinstance(value, np.ndarray):
            raise InvalidInput(f"the fit step reads latents named {FITS_INPUT}-<i> and {NOT_FITS_INPUT}-<i>, "
                               f"got {name!r}")
        groups[kind].append((int(number), value.reshape(-1)))
    positive, negative = ([vector for _, vector in sorted(groups[kind], key=lambda item: item[0])]
                          for kind in (FITS_INPUT, NOT_FITS_INPUT))
    result = casting.fit_direction(positive, negative)
    weights_name, sha256 = latent_weights(params.engine, ctx.models)
    strength = float(params.default_strength if params.default_strength is not None else result.default_strength)
    casting.save_direction(ctx.models, weights_name, sha256, int(result.vector.size), casting.Direction(
        name=params.name, vector=result.vector, default_strength=strength, source=params.source))
    report = {"stage": "generator", "step": FIT, "engine": params.engine, "fits": len(positive),
              "does_not_fit": len(negative), "training_accuracy": round(float(result.training_accuracy), 4),
              "shrinkage": round(float(result.shrinkage), 4),
              "fitted_strength": round(float(result.default_strength), 4), "default_strength": strength,
              "weights": weights_name}
    return StageOutput(image=None, report=report, artifacts={DIRECTION: result.vector})


STAGE = StageDefinition.implementing(CONTRACT, run=run, run_batch=run_batch, actions={FIT: fit})
