"""Operator commands: the model store (`models`), Kafka topics (`topics`) and dead letters (`dlq`)."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from shared.events import STAGES, JOB_EVENTS_TOPIC, StageRequest, dlq_topic, request_key, requests_topic
from shared.ids import random_hex
from shared.settings import get_settings

DLQ_REPLAY_GROUP = "facecast-dlq-replay-{stage}"
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def register(subparsers) -> None:
    models = subparsers.add_parser("models", help="the model store: import, list and verify weight files")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    imp = models_sub.add_parser("import", help="hash a weight file (or every file of a folder or archive, such as a "
                                "diffusers pipeline), record its provenance, upload it")
    imp.add_argument("name", help="e.g. stylegan2-ffhq-config-f, gpen-bfr-512, faceshifter-aei, sdxl-base-1.0; or "
                     "just a known ONNX file (inswapper_128.onnx, hyperswap_1a_256.onnx, gfpgan_1.4.onnx, …), "
                     "whose name, licence and conventions FaceCast knows (shared/onnx_catalog.py)")
    imp.add_argument("file", type=Path, nargs="?", help="a weight file, a folder (a diffusers pipeline saved with "
                     "save_pretrained, model_index.json at its top) or a .zip / .tar(.gz) of one")
    imp.add_argument("--licence", help="the weights' licence, as published (default for a known ONNX file: its "
                     "published licence)")
    imp.add_argument("--commercial-use", choices=("yes", "no"), help="(default for a known ONNX file: whether its "
                     "published licence allows it)")
    imp.add_argument("--source", help="where the file came from (URL or reference)")
    imp.add_argument("--version", default="")
    imp.add_argument("--input-size", type=int)
    imp.set_defaults(handler=_models_import)
    lst = models_sub.add_parser("list", help="every weight file with its licence and hash")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=_models_list)
    ver = models_sub.add_parser("verify", help="re-hash every file against the manifest (exit 1 on a mismatch)")
    ver.set_defaults(handler=_models_verify)

    topics = subparsers.add_parser("topics", help="Kafka topics")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True)
    create = topics_sub.add_parser("create", help="create every request, DLQ and job-event topic")
    create.add_argument("--partitions", type=int, default=6, help="partitions per stage topic")
    create.add_argument("--stage-partitions", action="append", default=[], metavar="STAGE=N",
                        help="override the partition count for one stage")
    create.set_defaults(handler=_topics_create)

    dlq = subparsers.add_parser("dlq", help="dead letters: inspect and replay after a fix")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    for verb, handler, text in (("list", _dlq_list, "show dead letters of a stage"),
                                ("replay", _dlq_replay, "send dead letters back to the stage's request topic")):
        p = dlq_sub.add_parser(verb, help=text)
        p.add_argument("stage", choices=STAGES)
        p.set_defaults(handler=handler)


def _models():
    from shared.weights import ModelStore

    return ModelStore.from_settings(get_settings())


def known_onnx_defaults(args) -> None:
    """Fill `name`, `file`, licence, commercial use, source, input size and notes of a known community ONNX
    file from its card (`facecast models import hyperswap_1a_256.onnx`); what the operator states wins.
    SystemExit naming what is missing for any other file."""
    from shared.engines import licence_allows_commercial
    from shared.onnx_catalog import CARDS, card_for_file

    if args.file is None:
        card = card_for_file(args.name)
        if card is None:
            raise SystemExit(f"facecast models import: {args.name!r} is not a known ONNX file name; give NAME FILE")
        args.file, args.name = Path(args.name), card.name
    else:
        card = CARDS.get(args.name) or card_for_file(args.file.name)
    args.notes = ""
    if card is not None:
        args.licence = args.licence or card.licence_id
        if args.commercial_use is None:
            args.commercial_use = "yes" if licence_allows_commercial(args.licence) else "no"
        args.source = args.source or f"{card.source} ({card.file_name})"
        args.input_size = args.input_size or card.size
        args.notes = card.notes()
    missing = [flag for flag, value in (("--licence", args.licence), ("--commercial-use", args.commercial_use),
                                        ("--source", args.source)) if value is None]
    if missing:
        raise SystemExit(f"facecast models import: {', '.join(missing)} required for {args.file.name!r}")


def _models_import(args) -> int:
    known_onnx_defaults(args)
    store = _models()
    provenance = dict(licence=args.licence, commercial_use=args.commercial_use == "yes", source=args.source,
                      version=args.version, input_size=args.input_size)
    if args.file.is_dir():
        record = store.import_folder(args.name, args.file, **provenance)
    elif args.file.name.lower().endswith(ARCHIVE_SUFFIXES):  # by name: a torch .pt file is a zip too
        record = store.import_archive(args.name, args.file, **provenance)
    else:
        record = store.import_file(args.name, args.file, **provenance, notes=args.notes)
    print(json.dumps(record.public(), indent=2))
    return 0


def _packaged_records():
    """Weight files that ship inside packages, as each area declares them."""
    from services.generator import engines as generator_engines
    from shared import realesrgan
    from shared.faces import packaged_models
    from shared.weights import PackagedWeights

    modules = (packaged_models, realesrgan, generator_engines)
    return [v for module in modules for v in vars(module).values() if isinstance(v, PackagedWeights)]


def packaged_weights() -> dict:
    """Every weight file shipped inside a package, by name (no import needed to use them)."""
    return {p.name: p for p in _packaged_records()}


def _models_list(args) -> int:
    rows = [r.public() | {"store": "model store"} for r in _models().records().values()]
    rows += [p.record().public() | {"store": f"package {p.package}"} for p in _packaged_records()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        use = "commercial" if r["commercial_use"] else "NON-COMMERCIAL"
        print(f"{r['name']:<28} {r['sha256'][:12]}  {use:<14} {r['licence']:<40} {r['store']}")
    return 0


def _models_verify(args) -> int:
    failures = 0
    for name, ok, message in _models().verify():
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {message}")
        failures += not ok
    for packaged in _packaged_records():
        try:
            packaged.verified_path()
            print(f"ok   {packaged.name} (package {packaged.package})")
        except Exception as exc:  # report every file, then fail
            print(f"FAIL {packaged.name}: {exc}")
            failures += 1
    return 1 if failures else 0


def topic_plan(partitions: int, overrides: list[str]) -> dict[str, int]:
    """Topic name → partition count: stage topics as configured, DLQs and job events with fewer."""
    per_stage = {s: partitions for s in STAGES}
    for item in overrides:
        stage, _, count = item.partition("=")
        if stage not in per_stage or not count.isdigit():
            raise SystemExit(f"--stage-partitions wants STAGE=N with STAGE in {', '.join(STAGES)}, got {item!r}")
        per_stage[stage] = int(count)
    plan = {requests_topic(s): n for s, n in per_stage.items()}
    plan.update({dlq_topic(s): 1 for s in STAGES})
    plan[JOB_EVENTS_TOPIC] = max(per_stage.values())
    return plan


def _topics_create(args) -> int:
    from shared.bus.kafka import ensure_topics

    plan = topic_plan(args.partitions, args.stage_partitions)
    asyncio.run(ensure_topics(get_settings().kafka_bootstrap, plan))
    for name, count in plan.items():
        print(f"{name}: {count} partitions")
    return 0


async def _drain(stage: str, group: str, replay: bool) -> int:
    from shared.bus import open_bus

    bus = open_bus(get_settings())
    await bus.start()
    consumer = await bus.subscribe([dlq_topic(stage)], group)
    count = 0
    try:
        while deliveries := await consumer.getmany(100, timeout_ms=2000):
            for d in deliveries:
                count += 1
                summary = {"offset": d.offset, "error": d.headers.get("error"), "code": d.headers.get("error-code"),
                           "attempts": d.headers.get("attempts")}
                try:
                    request = StageRequest.model_validate_json(d.value)
                    summary |= {"job_id": request.job_id, "tenant_id": request.tenant_id, "step": request.current.number}
                except ValueError:
                    request = None
                print(json.dumps(summary))
                if replay and request is not None:
                    fresh = request.model_copy(update={"attempt": 1})
                    key = request_key(request.tenant_id, request.job_id, get_settings().tenant_partitions)
                    await bus.publish(requests_topic(stage), fresh.model_dump_json().encode(), key=key)
                if replay:
                    await consumer.commit(d.topic, d.partition, d.offset + 1)
    finally:
        await consumer.close()
        await bus.stop()
    return count


def _dlq_list(args) -> int:
    count = asyncio.run(_drain(args.stage, f"facecast-dlq-list-{random_hex(8)}", replay=False))
    print(f"{count} dead letters in {dlq_topic(args.stage)}", file=sys.stderr)
    return 0


def _dlq_replay(args) -> int:
    count = asyncio.run(_drain(args.stage, DLQ_REPLAY_GROUP.format(stage=args.stage), replay=True))
    print(f"replayed {count} dead letters to {requests_topic(args.stage)}", file=sys.stderr)
    return 0
