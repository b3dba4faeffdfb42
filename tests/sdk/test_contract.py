"""The client SDK against the gateway it talks to: every route, request field, query parameter, response field
and status the SDK uses exists in the gateway's OpenAPI document, and the blocking and asyncio clients expose
the same methods with the same parameters (resource by resource)."""
from __future__ import annotations

import inspect
from typing import Any, Iterator

import pytest

import facecast
from facecast import AsyncFaceCast, FaceCast
from facecast.resources import PAIRS, ROUTES
from facecast.resources.webhook_endpoints import EVENT_TYPES


@pytest.fixture(scope="module")
def openapi() -> dict:
    from services.gateway.embedded import build
    from shared.settings import Settings

    app, _ = build(Settings(), stages=[])
    return app.openapi()


def resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def variants(doc: dict, schema: dict) -> Iterator[dict]:
    """The object schemas a value may have: through $ref, anyOf/oneOf/allOf, and list items."""
    schema = resolve(doc, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from variants(doc, sub)
    if schema.get("type") == "array" and "items" in schema:
        yield from variants(doc, schema["items"])
    elif "anyOf" not in schema and "oneOf" not in schema and "allOf" not in schema:
        yield schema


def field_schemas(doc: dict, schema: dict, dotted: str) -> list[dict]:
    """The schemas of a dotted field path (`steps.status`; `*` is any key of a mapping), [] when absent."""
    current = [schema]
    for part in dotted.split("."):
        found = []
        for option in current:
            for variant in variants(doc, option):
                if part == "*" and isinstance(variant.get("additionalProperties"), dict):
                    found.append(variant["additionalProperties"])
                elif part in (variant.get("properties") or {}):
                    found.append(variant["properties"][part])
        current = found
    return current


def enum_of(doc: dict, schemas: list[dict]) -> set[str]:
    values: set[str] = set()
    for schema in schemas:
        for variant in variants(doc, schema):
            values |= set(variant.get("enum", [])) | ({variant["const"]} if "const" in variant else set())
    return values


def operation(doc: dict, route) -> dict:
    assert route.template in doc["paths"], f"{route.template} is not a path of the API"
    ops = doc["paths"][route.template]
    assert route.method.lower() in ops, f"{route.method} {route.template} is not an operation of the API"
    return ops[route.method.lower()]


def success_schema(op: dict) -> dict | None:
    for status, response in sorted(op["responses"].items()):
        if status.startswith("2"):
            content = response.get("content") or {}
            if "application/json" in content:
                return content["application/json"]["schema"]
    return None


def route_id(route) -> str:
    return f"{route.method} {route.template}"


def test_the_sdk_declares_routes_of_every_resource():
    # every resource module declared its routes; the SDK covers every operation of the public API
    assert len(ROUTES) == len({(r.method, r.template) for r in ROUTES}) >= 30


def test_the_sdk_covers_every_public_operation(openapi):
    declared = {(r.method.lower(), r.template) for r in ROUTES}
    presigned = ("/v1/objects/",)  # reached through the presigned URLs the API hands out, never by template
    missing = sorted(f"{m.upper()} {p}" for p, ops in openapi["paths"].items() for m in ops
                     if (m, p) not in declared and not p.startswith(presigned))
    assert missing == []


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_each_route_field_and_parameter_exists_in_the_openapi_document(openapi, route):
    op = operation(openapi, route)
    names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
    assert names == set(inspect_template(route.template))
    query = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
    assert set(route.query) <= query, set(route.query) - query
    content = (op.get("requestBody") or {}).get("content") or {}
    if route.body:
        body = content["application/json"]["schema"]
        absent = [f for f in route.body if not field_schemas(openapi, body, f)]
        assert absent == [], f"request fields not in the schema: {absent}"
    if route.form:
        form = content["multipart/form-data"]["schema"]
        assert set(route.form) <= set(resolve(openapi, form)["properties"])
    if route.reads:
        response = success_schema(op)
        assert response is not None, "the SDK reads a response the API does not document"
        absent = [f for f in route.reads if not field_schemas(openapi, response, f)]
        assert absent == [], f"response fields not in the schema: {absent}"


def inspect_template(template: str) -> list[str]:
    import string
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def test_job_statuses_are_the_apis(openapi):
    job = success_schema(openapi["paths"]["/v1/jobs/{job_id}"]["get"])
    api = enum_of(openapi, field_schemas(openapi, job, "status"))
    assert set(facecast.JOB_STATUSES) == api  # both ways: no status the API never sends (cancelled, expired, ready)
    assert facecast.TERMINAL_STATUSES == {"succeeded", "failed", "canceled"} < api
    steps = enum_of(openapi, field_schemas(openapi, job, "steps.status"))
    assert "succeeded" in steps  # job_progress counts succeeded steps
    listed = enum_of(openapi, [p["schema"] for p in openapi["paths"]["/v1/jobs"]["get"]["parameters"]
                               if p["name"] == "status"])
    assert listed == api


def test_casting_statuses_are_the_apis(openapi):
    casting = success_schema(openapi["paths"]["/v1/castings/{casting_id}"]["get"])
    assert enum_of(openapi, field_schemas(openapi, casting, "status")) == set(facecast.JOB_STATUSES)


def test_webhook_event_types_are_the_apis(openapi):
    create = openapi["paths"]["/v1/webhook-endpoints"]["post"]["requestBody"]["content"]["application/json"]
    assert enum_of(openapi, field_schemas(openapi, create["schema"], "event_types")) == set(EVENT_TYPES)


def test_the_contract_test_catches_drift(openapi):
    # the resolver is not vacuous: fields and statuses the API does not have are reported as absent
    job = success_schema(openapi["paths"]["/v1/jobs/{job_id}"]["get"])
    assert field_schemas(openapi, job, "result.url") and field_schemas(openapi, job, "warnings.code")
    assert not field_schemas(openapi, job, "progress") and not field_schemas(openapi, job, "results.url")
    assert "cancelled" not in enum_of(openapi, field_schemas(openapi, job, "status"))


# ------------------------------------------------------------------------------------ sync ↔ async parity
def public_methods(cls: type) -> dict[str, Any]:
    return {name: member for name, member in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}


def signature(fn) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("sync_cls, async_cls", PAIRS, ids=[s.__name__ for s, _ in PAIRS])
def test_each_resource_has_the_same_methods_sync_and_async(sync_cls, async_cls):
    sync, asyn = public_methods(sync_cls), public_methods(async_cls)
    assert sorted(sync) == sorted(asyn)
    for name in sync:
        assert signature(sync[name]) == signature(asyn[name]), name
        assert not (inspect.iscoroutinefunction(sync[name]) or inspect.isasyncgenfunction(sync[name])), name
        assert inspect.iscoroutinefunction(asyn[name]) or inspect.isasyncgenfunction(asyn[name]), name


def test_the_clients_have_the_same_methods_and_every_resource():
    assert set(FaceCast.__mro__) >= {s for s, _ in PAIRS}
    assert set(AsyncFaceCast.__mro__) >= {a for _, a in PAIRS}
    sync, asyn = public_methods(FaceCast), public_methods(AsyncFaceCast)
    assert set(sync) - {"close"} == set(asyn) - {"aclose"}
    assert "close" in sync and "aclose" in asyn
    for name in set(sync) - {"close"}:
        assert signature(sync[name]) == signature(asyn[name]), name
    # the methods the README documents, on both
    for name in ("create_casting", "wait_casting", "accept_candidate", "create_jobs", "wait", "download", "events",
                 "warnings", "list_jobs", "upload", "create_webhook_endpoint", "webhook_deliveries", "redeliver"):
        assert name in sync and name in asyn
