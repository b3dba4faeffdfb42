"""The makeup stage: put a makeup look on the face(s) of the working image.

The look comes from exactly one of: a reference photo (step input `reference`, a made-up face) or a
named preset (`look`, see `looks.json`; landmarks engine only). `regions` limits the change to some
of lips, eyeshadow, eyeliner, blush and brows; `intensity` (0–1) scales everything and
`region_intensity` sets single regions (for a preset it replaces that region's own intensity).
Only face pixels change: outside the face's soft masks the output is byte-identical to the input.
`run_batch` makes up the beautygan faces of several events in one network pass; with the network's
per-instance normalisation the result is the same as each event's own `run`.
"""
from __future__ import annotations

import numpy as np

from services.makeup.contract import CONTRACT, REFERENCE_INPUT, MakeupParams, check_makeup_source
from services.makeup.engines import REGISTRY
from services.makeup.engines.request import MakeupRequest
from shared.errors import InvalidInput
from shared.images import DecodedImage
from shared.stage import StageContext, StageDefinition, StageInputs, StageOutput, isolated, one_event

def run_batch(items: list[tuple[MakeupParams, StageInputs]], ctx: StageContext) -> list[StageOutput | Exception]:
    """Make up every event: each is checked alone (images, the look's source), then the events of each
    engine go to its `run_batch` together (beautygan: the faces of all of them in one network pass;
    landmarks: one by one). A failing event gets its exception in its place and does not stop the
    others; an engine that cannot load fails its events."""
    results: list = [isolated(_request, params, inputs) for params, inputs in items]
    for name in REGISTRY.names():
        mine = [i for i, r in enumerate(results) if isinstance(r, MakeupRequest) and r.params.engine == name]
        if not mine:
            continue
        outputs = isolated(lambda: REGISTRY.load(name, ctx.models, ctx.settings).run_batch(
            [results[i] for i in mine], ctx))
        for position, i in enumerate(mine):
            results[i] = outputs if isinstance(outputs, Exception) else outputs[position]
    return results


def _request(params: MakeupParams, inputs: StageInputs) -> MakeupRequest:
    image = _working_image(inputs)
    reference = _reference_image(inputs)
    check_makeup_source(params, frozenset(inputs.extras))
    report = {**REGISTRY[params.engine].public(), "look": params.look, "reference": reference is not None,
              "intensity": params.intensity, "regions": params.applied_regions()}
    return MakeupRequest(params=params, image=image, reference=reference, report=report)


def _working_image(inputs: StageInputs) -> np.ndarray:
    if not isinstance(inputs.image, DecodedImage):
        raise InvalidInput("the makeup stage needs a working image (the product photo)")
    return inputs.image.pixels


def _reference_image(inputs: StageInputs) -> np.ndarray | None:
    unexpected = [name for name in inputs.extras if name != REFERENCE_INPUT]
    if unexpected:
        raise InvalidInput(f"the makeup stage reads only the {REFERENCE_INPUT!r} input, got {', '.join(unexpected)}")
    reference = inputs.extras.get(REFERENCE_INPUT)
    if reference is None:
        return None
    if not isinstance(reference, DecodedImage):
        raise InvalidInput(f"the makeup {REFERENCE_INPUT!r} must be an image of a made-up face, "
                           f"not a {type(reference).__name__}")
    return reference.pixels


run = one_event(run_batch)


STAGE = StageDefinition.implementing(CONTRACT, run=run, run_batch=run_batch)
