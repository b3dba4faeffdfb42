"""`facecast-client run PHOTOS_DIR --model ID --steps swap,enhance -o OUT_DIR` (also `facecast client run` in the
server's command). Needs the `[cli]` extra (`pip install "facecast-client[cli]"`) for its table and progress bar.

Processes a folder of product photos: one job per photo, a progress bar while they run, results saved
under OUT_DIR and a summary table at the end. Resumable: OUT_DIR/.facecast-manifest.json records each
photo's content hash, its job and its saved result, so a second run skips photos already done, picks up
jobs still running, and resubmits only what is missing or failed. A job submitted just before a crash is
not duplicated either: its idempotency key is derived from the photo's content, model and steps.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from ._client import FaceCast
from ._errors import APIError, FaceCastError
from .inputs import ImageInput, build_steps, job_key, list_photos
from .resources.jobs import job_warnings

__all__ = ["register", "main", "run_folder", "Manifest", "Outcome", "MANIFEST"]

MANIFEST = ".facecast-manifest.json"
MANIFEST_VERSION = 1


@dataclass
class Outcome:
    photo: str
    status: str  # done | skipped | failed
    job_id: Optional[str]
    output: Optional[str]
    detail: str = ""
    warnings: List[str] = field(default_factory=list)  # a result to look at before publishing


class Manifest:
    """What a folder run has done so far, written atomically after every change."""

    def __init__(self, out_dir: Path, settings: Dict[str, Any]):
        self.path = out_dir / MANIFEST
        self.settings = settings
        self.photos: Dict[str, Dict[str, Any]] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
            except ValueError:
                data = {}
            if data.get("version") == MANIFEST_VERSION and data.get("settings") == settings:
                self.photos = data.get("photos", {})
            elif data.get("photos"):
                # other model or steps: earlier results are for another look; start over but keep a trace
                self.path.rename(self.path.with_name(f"{MANIFEST}.{int(time.time())}.old"))

    def entry(self, name: str) -> Dict[str, Any]:
        return self.photos.setdefault(name, {})

    def save(self) -> None:
        tmp = self.path.with_name(f".{MANIFEST}.tmp")
        tmp.write_text(json.dumps({"version": MANIFEST_VERSION, "settings": self.settings, "photos": self.photos},
                                  indent=1, sort_keys=True))
        os.replace(tmp, self.path)

    def is_done(self, name: str, sha256: str, out_dir: Path) -> bool:
        e = self.photos.get(name) or {}
        return (e.get("status") == "done" and e.get("sha256") == sha256 and bool(e.get("outputs"))
                and all((out_dir / o).is_file() for o in e["outputs"]))


def run_folder(client: FaceCast, photos_dir: Union[str, os.PathLike], out_dir: Union[str, os.PathLike], *, model: str,
               steps: Union[str, List[str]], scale: Optional[int] = None, look: Optional[str] = None,
               intensity: Optional[float] = None, progress: Optional[bool] = None, timeout: float = 1800.0,
               upload: bool = False, reference: Union[str, os.PathLike, None] = None) -> List[Outcome]:
    """Process every photo of `photos_dir` into `out_dir`; see the module docstring for resuming."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reference_id = client.upload(Path(reference)) if reference else None
    step_list = build_steps(steps, scale=scale, look=look, intensity=intensity, makeup_reference=reference_id)
    # the manifest's settings name the reference by content, not by its (new each run) upload id
    settings_steps = build_steps(steps, scale=scale, look=look, intensity=intensity,
                                 makeup_reference=_file_sha(reference) if reference else None)
    manifest = Manifest(out, {"model": model, "steps": settings_steps})
    outcomes: Dict[str, Outcome] = {}
    to_wait: Dict[str, str] = {}  # job id → photo name

    for path in list_photos(photos_dir):
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if manifest.is_done(path.name, sha, out):
            e = manifest.photos[path.name]
            outcomes[path.name] = Outcome(path.name, "skipped", e.get("job_id"), ", ".join(e["outputs"]), "already done")
            continue
        entry = manifest.entry(path.name)
        if entry.get("sha256") == sha and entry.get("job_id") and entry.get("status") == "submitted":
            to_wait[entry["job_id"]] = path.name  # submitted by an earlier run: follow it instead of resubmitting
            continue
        item = ImageInput(name=path.name, data=data, content_type=_content_type(path), sha256=sha)
        # a retry after a failure needs a fresh key (the same key would return the failed job)
        attempt = int(entry.get("attempt", 0)) + (1 if entry.get("status") == "failed" else 0)
        key = job_key(item, model, step_list) + (f"-r{attempt}" if attempt else "")
        try:
            jobs = client.create_jobs([item], model=model, steps=step_list, idempotency_key=key, upload=upload)
        except (APIError, FaceCastError) as exc:
            entry.update(sha256=sha, status="failed", error=str(exc), attempt=attempt)
            manifest.save()
            outcomes[path.name] = Outcome(path.name, "failed", None, None, str(exc))
            continue
        job = jobs[0]
        entry.clear()
        entry.update(sha256=sha, job_id=job["id"], status="submitted", attempt=attempt,
                     submitted_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        manifest.save()
        to_wait[job["id"]] = path.name

    def finished(job: Dict[str, Any]) -> None:
        name = to_wait[job["id"]]
        entry = manifest.entry(name)
        if job.get("status") == "succeeded":
            try:
                saved = client.download(job, out, names={job["id"]: Path(name).stem})
            except (APIError, FaceCastError, OSError) as exc:
                entry.update(status="failed", error=f"download: {exc}")
                outcomes[name] = Outcome(name, "failed", job["id"], None, f"download: {exc}")
            else:
                warnings = [str(w) for w in job_warnings(job)]
                entry.update(status="done", outputs=[p.name for p in saved], error=None, warnings=warnings)
                outcomes[name] = Outcome(name, "done", job["id"], ", ".join(p.name for p in saved),
                                         warnings=warnings)
        else:
            error = job.get("error") or {}
            detail = error.get("message") if isinstance(error, dict) else str(error)
            entry.update(status="failed", error=detail or job.get("status"))
            outcomes[name] = Outcome(name, "failed", job["id"], None, f"{job.get('status')}: {detail or ''}")
        manifest.save()

    if to_wait:
        try:
            client.wait(list(to_wait), progress=progress, timeout=timeout, on_done=finished)
        except APIError as exc:
            if exc.status != 404:
                raise
            # a job of an earlier run that the server no longer has (retention): resubmit on the next run
            for job_id, name in to_wait.items():
                if name not in outcomes:
                    manifest.entry(name).update(status="failed", error=str(exc))
                    outcomes[name] = Outcome(name, "failed", job_id, None, str(exc))
            manifest.save()
    order = [p.name for p in list_photos(photos_dir)]
    return [outcomes[n] for n in order if n in outcomes]


def _file_sha(path: Union[str, os.PathLike]) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _content_type(path: Path) -> str:
    return {".png": "image/png", ".webp": "image/webp"}.get(path.suffix.lower(), "image/jpeg")


def print_summary(outcomes: List[Outcome], out_dir: Path, elapsed: float) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"FaceCast: {len(outcomes)} photo(s) → {out_dir}  ({elapsed:.1f} s)")
    table.add_column("photo")
    table.add_column("status")
    table.add_column("job")
    table.add_column("result / detail", overflow="fold")
    style = {"done": "green", "skipped": "cyan", "failed": "red"}
    for o in outcomes:
        text = o.output or o.detail
        if o.warnings:
            text += "".join(f"\n[yellow]⚠ {escape(w)}[/]" for w in o.warnings)
        table.add_row(o.photo, f"[{style[o.status]}]{o.status}[/]", o.job_id or "-", text)
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("done", "skipped", "failed")}
    counts["with warnings"] = sum(1 for o in outcomes if o.warnings)
    table.caption = " · ".join(f"{k} {v}" for k, v in counts.items())
    Console().print(table)


def _add_run(sub, name: str = "run") -> None:
    run = sub.add_parser(name, help="process a folder of product photos (resumable)",
                         description="Process every photo of PHOTOS_DIR with a virtual model into OUT_DIR. Resumable: "
                                     "OUT_DIR/.facecast-manifest.json records what is done, so running the same "
                                     "command again skips finished photos and follows jobs still running.")
    run.add_argument("photos_dir", metavar="PHOTOS_DIR")
    run.add_argument("--model", required=True, help="virtual model id")
    run.add_argument("--steps", default="swap", help="comma-separated: swap,enhance,makeup (default: swap)")
    run.add_argument("-o", "--out", dest="out_dir", required=True, metavar="OUT_DIR")
    run.add_argument("--scale", type=int, choices=(1, 2, 4), help="enhance: upscale factor (1 restores detail at the same size)")
    run.add_argument("--look", help="makeup: a look name")
    run.add_argument("--intensity", type=float, help="makeup: 0..1")
    run.add_argument("--reference", metavar="FILE", help="makeup: copy the makeup of this photo instead of a look")
    run.add_argument("--upload", action="store_true", help="send photos through presigned uploads, not multipart")
    run.add_argument("--url", default=os.environ.get("FACECAST_URL", "http://127.0.0.1:8000"))
    run.add_argument("--api-key", default=os.environ.get("FACECAST_API_KEY"),
                     help="API key (default: $FACECAST_API_KEY; prefer the variable to keep it out of shell history)")
    run.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the jobs")
    run.add_argument("--no-progress", action="store_true")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if not args.api_key:
        print("facecast client: give --api-key or set FACECAST_API_KEY", file=sys.stderr)
        return 2
    if importlib.util.find_spec("rich") is None:
        print('facecast client: the command needs rich: pip install "facecast-client[cli]"', file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        with FaceCast(args.api_key, args.url) as client:
            outcomes = run_folder(client, args.photos_dir, args.out_dir, model=args.model, steps=args.steps,
                                  scale=args.scale, look=args.look, intensity=args.intensity,
                                  progress=False if args.no_progress else True, timeout=args.timeout,
                                  upload=args.upload, reference=args.reference)
    except (FaceCastError, OSError) as exc:
        print(f"facecast client: {exc}", file=sys.stderr)
        return 1
    print_summary(outcomes, Path(args.out_dir), time.monotonic() - started)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def register(subparsers) -> None:
    """Add `client run` to another argparse command (the server's `facecast`)."""
    parser = subparsers.add_parser("client", help="use a FaceCast server as a shop would (the client SDK)")
    _add_run(parser.add_subparsers(dest="client_command", required=True))


def main(argv: Optional[List[str]] = None) -> int:
    """`facecast-client run …`."""
    parser = argparse.ArgumentParser(prog="facecast-client", description="Process folders of product photos with a FaceCast server.")
    _add_run(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

