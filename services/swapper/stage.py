"""The swapper stage: put the virtual model's face (step input `source`) on the product photo.

The gateway resolves a virtual-model id to its prepared source (or, for a model prepared before there
were prepared sources, its portrait) before publishing, so the stage reads only objects: the working
image (the target photo), `source` and, for `face_selector: reference`, `reference` (a photo of the
person whose face is to be replaced). The `prepare` step makes the prepared source (services.swapper.contract).
Only the selected faces change; outside each face's change box the output is byte-identical.
`run_batch` swaps the faces of several events in one network call (faceshifter on a GPU).
"""
from __future__ import annotations

import numpy as np

from services.swapper import compose
from services.swapper.contract import (CONTRACT, PREPARE, PREPARED_SOURCE, REFERENCE_INPUT, SOURCE_INPUT,
                                      PrepareParams, SwapParams)
from services.swapper.engines import REGISTRY
from services.swapper.faces import (COMPOSITE_TEMPLATES, GLASSES_CHECK_TEMPLATE, SourceFace, TargetFace, cut_by_frame,
                                   find_targets, prepare_source, prepare_target, prepared_arrays,
                                   source_from_arrays)
from shared.engines import licence_report
from shared.errors import FaceCastError, InvalidInput, NoFaceFound
from shared.faces import RealismThresholds, identity_embedding, largest_face
from shared.images import DecodedImage
from shared.stage import StageContext, StageDefinition, StageInputs, StageOutput, one_event

# what the prepare step stores: every crop a target face is composited on (and the glasses check's)
PREPARED_TEMPLATES = tuple(dict.fromkeys((*COMPOSITE_TEMPLATES, GLASSES_CHECK_TEMPLATE)))


class _Event:
    """One event's prepared work: its image, source and target faces (raises what makes it fail)."""

    def __init__(self, params: SwapParams, inputs: StageInputs):
        self.params = params
        self.image = _image(inputs.image, "working image (the target photo)")
        self.source: SourceFace = _source(inputs.extras.get(SOURCE_INPUT))
        reference = _reference_embedding(params, inputs)
        faces = find_targets(self.image, params, reference)
        engine = REGISTRY.engine_class(params.engine)
        # A face whose eyes are outside the photo is not an identifiable portrait: it is left as it is
        # and reported, never half-swapped.
        self.cut = [face for face in faces if cut_by_frame(face, self.image.shape)]
        self.targets: list[TargetFace] = [prepare_target(self.image, face, engine.template_for(face))
                                          for face in faces if face not in self.cut]


def _image(value, what: str) -> np.ndarray:
    if value is None:
        raise InvalidInput(f"the swapper needs a {what}")
    if not isinstance(value, DecodedImage):
        raise InvalidInput(f"the swapper's {what} must be an image, not a {type(value).__name__}")
    return value.pixels


def _source(value) -> SourceFace:
    """The source face from the `source` input: a virtual model's prepared source as it was stored, or a
    portrait prepared now (cached per worker)."""
    if isinstance(value, dict):
        return source_from_arrays(value)
    return prepare_source(_image(value, f"{SOURCE_INPUT!r} input"))


def prepare(params: PrepareParams, inputs: StageInputs, ctx: StageContext) -> StageOutput:
    """The prepare step: the `source` portrait's face found whole, masked, super-resolved when small, meshed
    and embedded once (what every swap with the virtual model needs), as the `prepared-source` artifact;
    the report gives the face found and its SFace identity embedding (128 floats). A portrait that cannot
    make a clean source fails with the reason (NoFaceFound, FaceTooSmall, InvalidInput for a cut face)."""
    unexpected = sorted(set(inputs.extras) - {SOURCE_INPUT})
    if unexpected:
        raise InvalidInput(f"the prepare step reads only the {SOURCE_INPUT!r} input, got {', '.join(unexpected)}")
    source = prepare_source(_image(inputs.extras.get(SOURCE_INPUT), f"{SOURCE_INPUT!r} input"))
    arrays = prepared_arrays(source, PREPARED_TEMPLATES)
    report = {"stage": "swapper", "step": PREPARE, "source_face": source.report(),
              "templates": list(PREPARED_TEMPLATES),
              "embedding": [round(float(v), 6) for v in source.embedding]}
    return StageOutput(image=None, report=report, artifacts={PREPARED_SOURCE: arrays})


def _reference_embedding(params: SwapParams, inputs: StageInputs) -> np.ndarray | None:
    unexpected = sorted(set(inputs.extras) - {SOURCE_INPUT, REFERENCE_INPUT})
    if unexpected:
        raise InvalidInput(f"the swapper reads only the {SOURCE_INPUT!r} and {REFERENCE_INPUT!r} inputs, "
                           f"got {', '.join(unexpected)}")
    if params.face_selector != "reference":
        return None
    pixels = _image(inputs.extras.get(REFERENCE_INPUT), f"{REFERENCE_INPUT!r} input for face_selector 'reference'")
    try:
        return identity_embedding(pixels, largest_face(pixels))
    except NoFaceFound:
        raise NoFaceFound("no face was found in the reference photo", role="reference") from None


def run_batch(items: list[tuple[SwapParams, StageInputs]], ctx: StageContext) -> list[StageOutput | FaceCastError]:
    """Swap every event's faces, one engine call per engine for all events; a failing event gets its
    error in its place and does not stop the others."""
    results: list[StageOutput | FaceCastError | None] = [None] * len(items)
    events: dict[int, _Event] = {}
    for i, (params, inputs) in enumerate(items):
        try:
            events[i] = _Event(params, inputs)
        except FaceCastError as exc:
            results[i] = exc
    thresholds = RealismThresholds.from_settings(ctx.settings)
    for name in REGISTRY.names():
        chosen = [i for i, event in events.items() if event.params.engine == name]
        if not chosen:
            continue
        pairs = [(target, events[i].source) for i in chosen for target in events[i].targets]
        try:  # loaded even when every face is cut by the frame: the report names the files it would run
            engine = REGISTRY.load(name, ctx.models, ctx.settings)
            swapped = iter(engine.run_batch(pairs, ctx) if pairs else [])
        except FaceCastError as exc:
            for i in chosen:
                results[i] = exc
            continue
        for i in chosen:
            results[i] = _finish(events[i], [next(swapped) for _ in events[i].targets], thresholds, engine)
    return results


def _finish(event: _Event, swapped: list, thresholds: RealismThresholds, engine) -> StageOutput:
    """The output image and report: the loaded engine's licences (the records of the files it ran,
    commercial use by the one rule: `shared.engines.licence_report`), each swapped face with its realism
    figures and verdict, each face left alone with its reason, and every warning gathered at the top so
    the job carries it."""
    params, licences = event.params, licence_report(engine)
    out = event.image.copy()
    faces = [compose.composite(out, event.image, target, result, event.source, licences,
                               color_match=params.color_match, blend=params.blend,
                               keep_occlusions=params.keep_occlusions, thresholds=thresholds)
             for target, result in zip(event.targets, swapped)]
    faces += [compose.left_alone(face, "face-cut-by-frame") for face in event.cut]
    faces.sort(key=lambda face: face["box"][0])
    warnings = [{**warning, "face": index} for index, face in enumerate(faces) for warning in face["warnings"]]
    report = {**licences, "source_face": event.source.report(), "faces": faces, "warnings": warnings,
              "change_box_scale": compose.CHANGE_BOX_SCALE}
    return StageOutput(image=out, report=report)


run = one_event(run_batch)


STAGE = StageDefinition.implementing(CONTRACT, run=run, run_batch=run_batch, actions={PREPARE: prepare})
