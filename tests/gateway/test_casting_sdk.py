"""The SDK's `wait_casting` reports each candidate once, as the casting lists it (castings are made in chunks)."""
from __future__ import annotations

import httpx
import pytest

from facecast import FaceCast, JobFailed


def candidate(index: int) -> dict:
    return {"index": index, "seed": 100 + index, "image": {"url": f"http://objects.test/c{index}.png"}}


def scripted(states: list[tuple[str, list[int]]]) -> tuple[httpx.MockTransport, list[str]]:
    """GET /v1/castings/cast_1 answers the states in turn (status, candidate indices made so far)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        status, made = states.pop(0) if len(states) > 1 else states[0]
        return httpx.Response(200, json={"id": "cast_1", "object": "casting", "status": status, "expected": 5,
                                         "candidates": [candidate(i) for i in made]})

    return httpx.MockTransport(handler), seen


def test_wait_casting_calls_on_candidate_once_per_candidate_in_order():
    transport, seen = scripted([("queued", []), ("running", [0]), ("running", [0]), ("running", [0, 1, 2, 3]),
                                ("succeeded", [0, 1, 2, 3, 4])])
    got = []
    with FaceCast("fc_test_key", "http://api.test", transport=transport, sleep=lambda s: None) as client:
        casting = client.wait_casting("cast_1", on_candidate=got.append)
    assert [c["index"] for c in got] == [0, 1, 2, 3, 4]
    assert casting["status"] == "succeeded" and len(casting["candidates"]) == 5
    assert seen == ["/v1/castings/cast_1"] * 5


def test_candidates_made_before_a_failure_are_still_reported():
    transport, _ = scripted([("running", [0]), ("failed", [0])])
    got = []
    with FaceCast("fc_test_key", "http://api.test", transport=transport, sleep=lambda s: None) as client:
        with pytest.raises(JobFailed):
            client.wait_casting("cast_1", on_candidate=got.append)
    assert [c["index"] for c in got] == [0]
