"""The in-process bus over a long run and with several tenants (issue 14, items 7 and 8): memory stays
flat however many messages went through, and one key's backlog cannot starve another key."""
from __future__ import annotations

import gc
import tracemalloc

from shared.bus.memory import MemoryBus
from shared.events import request_key

PAYLOAD = b"x" * 1000  # about the size of a StageRequest


async def _pump(bus: MemoryBus, consumer, topic: str, count: int) -> None:
    """Publish `count` messages and consume and commit each, as a worker does."""
    for i in range(count):
        await bus.publish(topic, PAYLOAD, key=f"job-{i}")
        for d in await consumer.getmany(10, timeout_ms=0):
            await consumer.commit(d.topic, d.partition, d.offset + 1)


async def test_memory_stays_flat_over_10000_consumed_messages():
    bus = MemoryBus(history=100)
    topic = "facecast.noop.requests"
    consumer = await bus.subscribe([topic], "workers")
    await _pump(bus, consumer, topic, 1000)  # warm up: history full, dicts at their working size
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        await _pump(bus, consumer, topic, 10_000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert bus.committed("workers", topic) == 11_000  # every message consumed and committed
    assert len(bus.messages(topic)) == 100  # only the inspection history is kept
    assert grown < 200_000, f"{grown:,} bytes kept after 10,000 more messages (they carry 10 MB)"


async def test_records_nobody_has_consumed_are_kept():
    bus = MemoryBus(history=0)
    for i in range(5):
        await bus.publish("facecast.makeup.dlq", b"dead", key=f"job-{i}")
    assert len(bus.messages("facecast.makeup.dlq")) == 5  # no group yet: pending work, not garbage
    late = await bus.subscribe(["facecast.makeup.dlq"], "operator")
    assert len(await late.getmany(10, timeout_ms=0)) == 5


async def test_a_backlog_of_one_tenant_does_not_starve_another():
    bus = MemoryBus()
    topic = "facecast.makeup.requests"
    worker = await bus.subscribe([topic], "facecast-makeup")
    for i in range(50):
        await bus.publish(topic, f"a{i}".encode(), key=request_key("tenant-a", f"job-a{i}"))
    await bus.publish(topic, b"b0", key=request_key("tenant-b", "job-b0"))
    order = []
    while len(order) < 51:
        for d in await worker.getmany(1, timeout_ms=0):
            order.append(d.value)
            await worker.commit(d.topic, d.partition, d.offset + 1)
    assert order.index(b"b0") <= 1  # its turn comes next, not after the 50 jobs ahead of it
    assert [v for v in order if v != b"b0"] == [f"a{i}".encode() for i in range(50)]  # one key stays in order
    assert bus.committed("facecast-makeup", topic) == 51


async def test_a_commit_covers_only_the_records_its_member_was_handed():
    """Fair order hands out offset 2 before offset 1; committing 3 must not commit the skipped record."""
    bus = MemoryBus()
    topic = "t"
    consumer = await bus.subscribe([topic], "g")
    await bus.publish(topic, b"a0", key="a")
    await bus.publish(topic, b"a1", key="a")
    await bus.publish(topic, b"b0", key="b")
    first = await consumer.getmany(2, timeout_ms=0)
    assert [d.value for d in first] == [b"a0", b"b0"]
    await consumer.commit(topic, 0, first[-1].offset + 1)
    assert bus.committed("g", topic) == 1  # a1 (offset 1) was never handed out: not done
    await consumer.close()
    again = await bus.subscribe([topic], "g")
    assert [d.value for d in await again.getmany(10, timeout_ms=0)] == [b"a1"]


def test_tenant_keys_spread_one_tenant_over_a_fixed_number_of_keys():
    assert request_key("t1", "job-1") == request_key("t1", "job-2") == "t1"
    keys = {request_key("t1", f"job-{i}", spread=3) for i in range(100)}
    assert len(keys) == 3 and all(k.startswith("t1/") for k in keys)
