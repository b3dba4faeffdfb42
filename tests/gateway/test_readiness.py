"""The gateway's /readyz says what it waits for while it is not ready."""
from __future__ import annotations


async def test_readyz_names_what_the_gateway_waits_for(harness):
    client = harness.anonymous()
    assert (await client.get("/readyz")).json() == {"ready": True}
    harness.gw.events.ready = False  # as while the job-event consumer joins its group
    try:
        waiting = await client.get("/readyz")
    finally:
        harness.gw.events.ready = True
    assert waiting.status_code == 503
    [reason] = waiting.json()["waiting_for"]
    assert reason.startswith("joining consumer group facecast-gateway on facecast.job-events")
