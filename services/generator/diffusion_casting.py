"""The generator stage's casting with the `diffusion` engine: prompt, candidates, checks, replacements.

One request makes its candidates from the seeds (`seed`, `seed + 1`, … or the listed ones):
- plain: text-to-image from each seed's own initial noise;
- `near` (chosen faces as step inputs `near-<i>`): image-to-image from the chosen face's final latent with
  strength = `spread` (at least one denoising step), the same prompt, and the candidate's seed for the
  added noise; candidate k starts from `near[(first_index + k) % len(near)]`, as with the latent engines;
- `mix` (exactly two chosen faces): text-to-image from slerp(noise₀, noise₁, mix), moved `spread` of the
  way toward the candidate's own seed noise (spread 0: the blend itself).

Every candidate is checked (`candidate_check.check_candidate`: one face, frontal, eyes open, large enough,
whole, no glasses, sharp) and a failing one made again from its next seed (`candidate_check.make_checked`).
The report names each candidate's requested and used seed, the seeds it replaced and why, and its check. Seeds, prompt, steps and guidance are
reported, so any candidate can be made again (same bytes on the same device and precision).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np

from services.generator import candidate_check
from services.generator.contract import SEED_MAX, build_prompt, check_diffusion_params
from services.generator.engines import DIFFUSION_WEIGHTS, REGISTRY
from shared.errors import InvalidInput
from shared.licence_terms import use_restrictions
from shared.stage import StageContext, StageInputs, StageOutput, isolated

@dataclass
class Plan:
    engine: object
    slots: list[candidate_check.Slot]
    report: dict


def plan(params, inputs: StageInputs, ctx: StageContext) -> Plan:
    from services.generator.engines.diffusion import Render, slerp
    from services.generator.stage import near_latents

    check_diffusion_params(params)
    engine = load(params, ctx)
    prompt = build_prompt(params, ctx.models, engine.reads_korean, engine.family.uses_negative_prompt)
    defaults = engine.defaults()
    steps = params.steps or defaults["steps"]
    guidance = defaults["guidance"] if params.guidance is None else params.guidance
    anchors = [(name, *engine.unpack(vector, name))
               for name, vector in near_latents(inputs.extras, engine.latent_dim, "diffusion")]
    seeds = params.seeds if params.seeds is not None else [secrets.randbelow(SEED_MAX + 1) for _ in range(params.n)]
    base = dict(prompt=prompt.prompt, negative_prompt=prompt.negative_prompt, steps=steps, guidance=guidance)
    strength = None
    if params.mix is not None:
        if len(anchors) != 2:
            raise InvalidInput(f"`mix` blends two chosen faces: give exactly near-0 and near-1 (got {len(anchors)})")
        (name_a, noise_a, _), (name_b, noise_b, _) = anchors
        mixed = slerp(noise_a, noise_b, params.mix)
        mix_name = f"mix({name_a},{name_b},{params.mix:g})"

        def blended(seed):
            return Render(seed=seed, noise=slerp(mixed, engine.noise(seed), params.spread), **base)
        slot_anchors = [(mix_name, blended)] * len(seeds)
    elif anchors:
        strength = max(params.spread, 1.0 / steps)  # image-to-image needs at least one denoising step

        def renderer(final):
            return lambda seed: Render(seed=seed, init_latent=final, strength=strength, **base)
        slot_anchors = []
        for k in range(len(seeds)):
            name, _, final = anchors[(params.first_index + k) % len(anchors)]
            slot_anchors.append((name, renderer(final)))
    else:
        plain = (lambda seed: Render(seed=seed, **base))
        slot_anchors = [(None, plain)] * len(seeds)
    slots = [candidate_check.Slot(index=params.first_index + k, requested_seed=seed, anchor=name, render_for=make)
             for k, (seed, (name, make)) in enumerate(zip(seeds, slot_anchors))]
    description = engine.describe()
    report = {**description, "prompt": prompt.prompt, "negative_prompt": prompt.negative_prompt,
              "negative_prompt_used": engine.family.uses_negative_prompt, "prompt_words": prompt.public(),
              "prompt_tokens": engine.prompt_tokens(prompt.prompt), "steps": steps, "guidance": guidance,
              "seeds": seeds, "categories": prompt.categories, "brief": prompt.brief,
              "near": [name for name, _, _ in anchors], "spread": params.spread if anchors else None,
              "strength": strength, "mix": params.mix, "first_index": params.first_index,
              "truncation": None}
    return Plan(engine=engine, slots=slots, report=report)


def load(params, ctx: StageContext):
    """The loaded engine from the shared weight cache; a refiner makes its own cache entry."""
    from shared.engines import WEIGHT_CACHE, choose_device, weights_key

    weights = params.weights or DIFFUSION_WEIGHTS
    if params.refiner is None:
        return REGISTRY.load("diffusion", ctx.models, ctx.settings, weights)
    entry = REGISTRY.entry("diffusion")
    device = choose_device(entry.info, ctx.settings)
    refiner_sha = ctx.models.records()[params.refiner].sha256 if params.refiner in ctx.models.records() else ""
    key = ("generator", "diffusion", device, *weights_key(entry.info, ctx.models, weights), params.refiner,
           refiner_sha)
    return WEIGHT_CACHE.get(key, lambda: entry.engine_class().load(ctx.models, device, weights, params.refiner))


def _make(engine, slots: list[candidate_check.Slot]) -> None:
    """Render the slots, check each (`check_candidate`), and make failing ones again from their next seeds."""
    def render(renders: list) -> list:
        return [result for (result,) in engine.run_batch([[r] for r in renders])]
    candidate_check.make_checked(slots, render, candidate_check.check_candidate, lambda result: result.image)


def run_batch(items: list[tuple[object, StageInputs]], ctx: StageContext) -> list[StageOutput | Exception]:
    """Several diffusion requests: each engine's candidates rendered together (on CPU still one pipeline call
    per candidate, so a candidate's bytes do not depend on the batch), failing ones replaced."""
    results: list = [isolated(plan, params, inputs, ctx) for params, inputs in items]
    plans = {i: p for i, p in enumerate(results) if isinstance(p, Plan)}
    for engine in {id(p.engine): p.engine for p in plans.values()}.values():
        mine = [i for i, p in plans.items() if p.engine is engine]
        failure = isolated(_make, engine, [slot for i in mine for slot in plans[i].slots])
        for i in mine:
            results[i] = failure if isinstance(failure, Exception) else _output(plans[i])
    return results


def _output(p: Plan) -> StageOutput:
    engine = p.engine
    licence = {"licence": p.report["weights_record"]["licence"], "commercial_use": p.report["commercial_use"],
               "use_restrictions": use_restrictions(p.report["weights_record"]["licence"]), "demo": False}
    artifacts: dict[str, np.ndarray] = {}
    candidates = []
    for slot in p.slots:
        artifacts[f"candidate-{slot.index}"] = slot.result.image
        artifacts[f"latent-{slot.index}"] = engine.pack(slot.result)
        candidates.append({**slot.public(), "artifact": f"candidate-{slot.index}", "latent": f"latent-{slot.index}",
                           "prompt": p.report["prompt"], "negative_prompt": p.report["negative_prompt"], **licence})
    report = {**p.report, "candidates": candidates, "replacements": sum(len(s.rejected) for s in p.slots),
              "failed_checks": sum(not s.check.passed for s in p.slots)}
    return StageOutput(image=None, report=report, artifacts=artifacts)
