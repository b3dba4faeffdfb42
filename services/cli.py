"""The `facecast` command.

Each area adds its own subcommands through a `register(subparsers)` function in its `cli` module;
this file only finds those modules and runs the worker command that every stage shares.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import sys

COMMAND_MODULES = (
    "services.gateway.cli",  # serve, tenants
    "services.generator.cli",  # generate
    "services.swapper.cli",  # swap
    "services.enhancer.cli",  # enhance
    "services.makeup.cli",  # makeup
    "services.ops",  # models, topics, dlq
    "shared.faces.cli",  # faces detect / crop
    "facecast.cli",  # client run
)


def _add_worker(subparsers) -> None:
    parser = subparsers.add_parser("worker", help="run one stage service (consume its Kafka topic) until SIGTERM")
    parser.add_argument("stage", help="generator | swapper | enhancer | makeup, or module:attribute")

    def run(args) -> int:
        from services.stages import load_stage
        from shared.runtime import serve_stage
        from shared.settings import get_settings
        from shared.telemetry import capture_native_stderr, configure_logging

        configure_logging()
        capture_native_stderr()  # MediaPipe/TFLite write to fd 2 directly: keep the worker's log all JSON
        asyncio.run(serve_stage(load_stage(args.stage), get_settings()))
        return 0

    parser.set_defaults(handler=run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facecast", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_worker(subparsers)
    for name in COMMAND_MODULES:
        try:  # finding `a.b` imports package `a` first
            if not (importlib.util.find_spec(name.rsplit(".", 1)[0]) and importlib.util.find_spec(name)):
                continue
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # an area whose third-party packages this install leaves out (the gateway-only image has no
            # OpenCV or torch): its commands are not offered; a missing module of FaceCast's own is a bug
            if (exc.name or "").split(".")[0] in ("services", "shared", "facecast"):
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    from shared.errors import FaceCastError

    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except FaceCastError as exc:
        print(f"facecast: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"facecast: invalid {'.'.join(map(str, first['loc']))}: {first['msg']}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
