"""Error bodies a fresh user meets: one shape for field errors (a top-level `errors` list of `{loc, msg, type}`,
never `details.errors`), a multipart job's missing or broken `options` named as such, and a portrait wearing
glasses refused with its own code (`source-covered`) wherever the refusal surfaces."""
from __future__ import annotations

import json

from services.gateway.steps import step_error
from shared.errors import SourceCovered
from shared.stage import StageDefinition
from tests.backbone.stages import TEST_ENGINE, NoParams
from tests.gateway.conftest import TEST_STAGES, png_bytes

INVERT = [{"stage": "invert"}]


def refuse_covered_source(params, inputs, ctx):
    raise SourceCovered("the source portrait shows glasses over the eyes", role="source", reason="source-covered")


COVERED = StageDefinition(name="covered", params_model=NoParams, run=refuse_covered_source, engines=TEST_ENGINE)
COVERED_STAGES = {**TEST_STAGES, "covered": "tests.gateway.test_field_errors:COVERED"}


def assert_field_problem(response, loc: list[str]) -> dict:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid-input" and "errors" not in problem.get("details", {}), problem
    assert problem["errors"][0]["loc"] == loc, problem
    assert all(set(e) == {"loc", "msg", "type"} for e in problem["errors"]), problem
    return problem


async def test_a_multipart_job_without_options_names_the_field(api):
    response = await api.post("/v1/jobs", files=[("image", ("x.png", png_bytes(), "image/png"))])
    problem = assert_field_problem(response, ["options"])
    assert problem["detail"].startswith("options:") and "body is empty" not in problem["detail"]
    assert problem["errors"][0]["type"] == "missing"


async def test_options_that_are_not_json_say_so_with_the_parser_position(api):
    response = await api.post("/v1/jobs", data={"options": "{steps: []}"},
                              files=[("image", ("x.png", png_bytes(), "image/png"))])
    problem = assert_field_problem(response, ["options"])
    assert problem["errors"][0]["type"] == "json_invalid"
    assert "not valid JSON" in problem["detail"] and "line 1 column 2" in problem["detail"], problem["detail"]


async def test_a_json_body_that_is_not_json_is_located_at_the_body(api):
    response = await api.post("/v1/jobs", content=b'{"steps": [', headers={"content-type": "application/json"})
    problem = assert_field_problem(response, ["body"])
    assert "not valid JSON" in problem["detail"] and "line 1" in problem["detail"]


async def test_a_field_inside_the_options_is_located_under_options(api):
    response = await api.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "invert", "bogus": 1}]})},
                              files=[("image", ("x.png", png_bytes(), "image/png"))])
    problem = assert_field_problem(response, ["options", "steps", "0", "bogus"])
    assert problem["detail"].startswith("options.steps.0.bogus:")


async def test_stage_params_and_query_errors_have_the_same_top_level_shape(api):
    params = await api.post("/v1/jobs", data={"options": json.dumps({"steps": [
        {"stage": "invert", "params": {"sleep_s": "x"}}]})}, files=[("image", ("x.png", png_bytes(), "image/png"))])
    problem = assert_field_problem(params, ["sleep_s"])
    assert problem["details"] == {"stage": "invert"}  # the other details stay where they were
    assert_field_problem(await api.get("/v1/jobs", params={"limit": 0}), ["query", "limit"])


async def test_the_openapi_document_describes_the_problem_the_api_sends(harness):
    document = harness.app.openapi()
    answer = document["paths"]["/v1/jobs"]["get"]["responses"]["422"]
    assert answer["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "errors" in schemas["Problem"]["properties"]
    assert set(schemas["FieldError"]["required"]) == {"loc", "msg", "type"}
    assert "`source-covered`" in schemas["Problem"]["properties"]["code"]["description"]


def test_a_failed_step_keeps_its_specific_code_and_details():
    error = step_error({"code": "source-covered", "message": "glasses", "stage": "swapper",
                        "details": {"role": "source", "reason": "source-covered"}}, "the portrait")
    assert isinstance(error, SourceCovered) and error.http_status == 422
    assert error.details == {"role": "source", "reason": "source-covered"}
    assert error.message == "the portrait: glasses"


async def test_a_covered_source_fails_the_job_with_its_code_and_an_import_would_too(make_harness):
    harness = await make_harness(stages=["covered"], extra_stages=COVERED_STAGES)
    api = await harness.tenant()
    submitted = await api.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "covered"}]})},
                               files=[("image", ("x.png", png_bytes(), "image/png"))])
    assert submitted.status_code == 202, submitted.text
    job = await api.wait_job(submitted.json()["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "source-covered", job["error"]
    assert job["error"]["details"] == {"role": "source", "reason": "source-covered"}

    refused = step_error(job["error"], "the portrait")  # an internal step (a model's import) folds the same way
    assert isinstance(refused, SourceCovered) and refused.details == job["error"]["details"]
