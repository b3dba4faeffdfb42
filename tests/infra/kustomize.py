"""A small kustomize renderer for the tests (no kustomize binary here): resources, namespace, and
strategic-merge patches matched by kind + name, with containers merged by name."""
from __future__ import annotations

import copy
from pathlib import Path

import yaml


def _load_all(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _merge(base, patch):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and all(isinstance(x, dict) and "name" in x for x in base + patch):
        by_name = {item["name"]: item for item in base}
        merged = [_merge(by_name[p["name"]], p) if p["name"] in by_name else copy.deepcopy(p) for p in patch]
        patched = {p["name"] for p in patch}
        return [item for item in base if item["name"] not in patched] + merged
    return copy.deepcopy(patch)


def render(directory: Path) -> list[dict]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs: list[dict] = []
    for resource in kustomization.get("resources", []):
        target = directory / resource
        docs.extend(render(target) if target.is_dir() else _load_all(target))
    for patch in kustomization.get("patches", []):
        for p in _load_all(directory / patch["path"]):
            matches = [i for i, d in enumerate(docs) if d["kind"] == p["kind"] and d["metadata"]["name"] == p["metadata"]["name"]]
            assert matches, f"patch {patch['path']} targets {p['kind']}/{p['metadata']['name']}, which the base lacks"
            for i in matches:
                docs[i] = _merge(docs[i], p)
    if namespace := kustomization.get("namespace"):
        for d in docs:
            if d["kind"] != "Namespace":
                d.setdefault("metadata", {})["namespace"] = namespace
    return docs
