"""One contract, two buses: every test here runs against the in-process bus and against KafkaBus on a
Tansu broker that the test set-up starts. Each test uses its own topics and groups."""
from __future__ import annotations

import asyncio
import time

import pytest

from shared.bus.kafka import KafkaBus, MessageTooLarge
from shared.bus.memory import MemoryBus
from shared.ids import random_hex

SESSION_MS = 1000


@pytest.fixture(params=["memory", "kafka"])
async def bus_factory(request):
    """Returns a function that opens another client of the same bus (another process, for Kafka)."""
    opened = []
    if request.param == "memory":
        shared = MemoryBus()

        async def make():
            opened.append(shared)
            return shared
    else:
        broker = request.getfixturevalue("tansu_broker")

        async def make():
            bus = KafkaBus(broker.bootstrap, session_timeout_ms=SESSION_MS, fetch_max_wait_ms=10)
            await bus.start()
            opened.append(bus)
            return bus
    yield make
    for bus in opened:
        await bus.stop()


@pytest.fixture
async def bus(bus_factory):
    return await bus_factory()


def names(prefix: str) -> tuple[str, str]:
    tag = random_hex(10)
    return f"test.{prefix}.{tag}", f"group-{prefix}-{tag}"


async def drain(consumer, want: int, timeout_s: float = 20.0, commit: bool = False) -> list:
    """Poll until `want` records arrived (or the deadline): a Kafka consumer first has to join its group."""
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        batch = await consumer.getmany(max_records=100, timeout_ms=200)
        got.extend(batch)
        if commit:
            for d in batch:
                await consumer.commit(d.topic, d.partition, d.offset + 1)
    return got


async def until_value(consumer, value: bytes, timeout_s: float = 20.0) -> list:
    """Everything delivered up to and including the record whose value is `value`."""
    got = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got.extend(await consumer.getmany(max_records=100, timeout_ms=200))
        if any(d.value == value for d in got):
            return got
    raise AssertionError(f"{value!r} never arrived; got {[d.value for d in got]}")


async def test_records_keep_value_key_headers_and_order_per_key(bus):
    topic, group = names("order")
    consumer = await bus.subscribe([topic], group)
    for i in range(5):
        await bus.publish(topic, f"m{i}".encode(), key="job-1", headers={"trace": f"t{i}", "kind": "test"})
    got = await drain(consumer, 5)
    assert [d.value for d in got] == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert {d.key for d in got} == {"job-1"}
    assert [d.headers for d in got] == [{"trace": f"t{i}", "kind": "test"} for i in range(5)]
    assert {d.topic for d in got} == {topic}
    assert [d.offset for d in got] == sorted(d.offset for d in got)
    await consumer.close()


async def test_committed_records_are_not_delivered_again(bus):
    topic, group = names("committed")
    consumer = await bus.subscribe([topic], group)
    for i in range(6):
        await bus.publish(topic, f"m{i}".encode(), key="k")
    got = await drain(consumer, 6, commit=True)
    assert len(got) == 6
    await consumer.close()

    again = await bus.subscribe([topic], group)
    await bus.publish(topic, b"sentinel", key="k")  # same key: same partition, after the others
    seen = await until_value(again, b"sentinel")
    assert [d.value for d in seen] == [b"sentinel"]
    await again.close()


async def test_uncommitted_records_are_delivered_again_from_the_committed_offset(bus):
    topic, group = names("replay")
    consumer = await bus.subscribe([topic], group)
    for i in range(6):
        await bus.publish(topic, f"m{i}".encode(), key="k")
    got = await drain(consumer, 6)
    assert [d.value for d in got] == [f"m{i}".encode() for i in range(6)]
    third = got[2]
    await consumer.commit(third.topic, third.partition, third.offset + 1)
    await consumer.close()  # "crash" with m3..m5 handed out but not committed

    again = await bus.subscribe([topic], group)
    replayed = await drain(again, 3)
    assert [d.value for d in replayed] == [b"m3", b"m4", b"m5"]
    assert [d.offset for d in replayed] == [d.offset for d in got[3:]]
    await again.close()


async def test_a_commit_never_moves_the_offset_backwards(bus):
    topic, group = names("backwards")
    consumer = await bus.subscribe([topic], group)
    for i in range(5):
        await bus.publish(topic, f"m{i}".encode(), key="k")
    got = await drain(consumer, 5)
    await consumer.commit(got[3].topic, got[3].partition, got[3].offset + 1)  # m0..m3 done
    await consumer.commit(got[0].topic, got[0].partition, got[0].offset + 1)  # a late, stale commit
    await consumer.close()
    again = await bus.subscribe([topic], group)
    assert [d.value for d in await drain(again, 1)] == [b"m4"]
    await again.close()


async def test_every_group_gets_every_record(bus):
    topic, group = names("groups")
    first = await bus.subscribe([topic], group + "-a")
    second = await bus.subscribe([topic], group + "-b")
    for i in range(8):
        await bus.publish(topic, f"m{i}".encode(), key=f"k{i}")
    a, b = await drain(first, 8), await drain(second, 8)
    expected = {f"m{i}".encode() for i in range(8)}
    assert sorted(d.value for d in a) == sorted(expected)
    assert sorted(d.value for d in b) == sorted(expected)
    await first.close()
    await second.close()


async def test_members_of_one_group_split_the_records_and_lose_none(bus_factory):
    topic, group = names("split")
    bus_a, bus_b = await bus_factory(), await bus_factory()
    a = await bus_a.subscribe([topic], group)
    b = await bus_b.subscribe([topic], group)
    published: set[bytes] = set()
    got_a: list = []
    got_b: list = []
    deadline = time.monotonic() + 40
    i = 0
    # keep publishing until both members have received records (a Kafka rebalance takes a moment)
    while time.monotonic() < deadline and (not got_a or not got_b or len(published) < 20):
        value = f"m{i}".encode()
        await bus_a.publish(topic, value, key=f"k{i}")
        published.add(value)
        i += 1
        order = ((a, got_a), (b, got_b)) if i % 2 else ((b, got_b), (a, got_a))
        for consumer, sink in order:
            batch = await consumer.getmany(max_records=3, timeout_ms=50)
            sink.extend(batch)
            for d in batch:
                await consumer.commit(d.topic, d.partition, d.offset + 1)
    tail_deadline = time.monotonic() + 15  # collect the tail
    while time.monotonic() < tail_deadline and {d.value for d in got_a + got_b} != published:
        for consumer, sink in ((a, got_a), (b, got_b)):
            batch = await consumer.getmany(max_records=100, timeout_ms=50)
            sink.extend(batch)
            for d in batch:
                await consumer.commit(d.topic, d.partition, d.offset + 1)
    assert got_a and got_b, f"both members should get records: a={len(got_a)} b={len(got_b)}"
    delivered = {d.value for d in got_a} | {d.value for d in got_b}
    assert delivered == published
    await a.close()
    await b.close()


async def test_a_revoked_members_uncommitted_records_go_to_the_new_owner(bus_factory):
    topic, group = names("revoke")
    bus_a, bus_b = await bus_factory(), await bus_factory()
    a = await bus_a.subscribe([topic], group)
    expected = {f"m{i}".encode() for i in range(12)}
    for i in range(12):
        await bus_a.publish(topic, f"m{i}".encode(), key=f"k{i}")
    held = await drain(a, 12)
    assert {d.value for d in held} == expected  # handed out to A, never committed

    b = await bus_b.subscribe([topic], group)  # B joins: the group rebalances
    after_join: list = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and {d.value for d in after_join} != expected:
        after_join.extend(await a.getmany(max_records=100, timeout_ms=100))
        after_join.extend(await b.getmany(max_records=100, timeout_ms=100))
    assert {d.value for d in after_join} == expected, "uncommitted records must be delivered again after a rebalance"

    await a.close()  # A leaves without committing anything: B now owns every partition
    from_b = await drain(b, 12, timeout_s=20)
    assert {d.value for d in from_b} == expected
    await b.close()


async def test_getmany_returns_empty_on_timeout_and_wakes_up_for_a_new_record(bus):
    topic, group = names("wake")
    consumer = await bus.subscribe([topic], group)
    await bus.publish(topic, b"first", key="k")
    assert [d.value for d in await drain(consumer, 1)] == [b"first"]
    assert await consumer.getmany(max_records=10, timeout_ms=100) == []

    async def later():
        await asyncio.sleep(0.2)
        await bus.publish(topic, b"second", key="k")

    task = asyncio.create_task(later())
    got = await drain(consumer, 1, timeout_s=10)
    await task
    assert [d.value for d in got] == [b"second"]
    await consumer.close()


async def test_ensure_topics_creates_only_missing_topics(bus):
    topic, _ = names("ensure")
    assert await bus.ensure_topics([topic]) == [topic]
    assert await bus.ensure_topics([topic]) == []


# ---- Kafka specifics --------------------------------------------------------------------------

async def test_kafka_carries_messages_near_the_limit_and_refuses_larger_ones(tansu_broker):
    bus = KafkaBus(tansu_broker.bootstrap, session_timeout_ms=SESSION_MS, max_message_bytes=1_048_576)
    await bus.start()
    try:
        topic, group = names("big")
        consumer = await bus.subscribe([topic], group)
        big = bytes(range(256)) * 4000  # 1,024,000 bytes
        await bus.publish(topic, big, key="k")
        got = await drain(consumer, 1)
        assert len(got) == 1 and got[0].value == big
        with pytest.raises(MessageTooLarge, match="over the 1048576-byte limit"):
            await bus.publish(topic, big + bytes(100_000), key="k")
        await consumer.close()
    finally:
        await bus.stop()


async def test_kafka_topics_created_by_subscribe_or_publish_have_the_configured_partitions(tansu_broker):
    from aiokafka.admin import AIOKafkaAdminClient

    bus = KafkaBus(tansu_broker.bootstrap, session_timeout_ms=SESSION_MS, partitions=3)
    await bus.start()
    topic, group = names("parts")
    published, _ = names("parts-pub")
    consumer = await bus.subscribe([topic], group)
    await bus.publish(published, b"x", key="k")  # the broker's auto-create would make 4 partitions
    admin = AIOKafkaAdminClient(bootstrap_servers=tansu_broker.bootstrap)
    await admin.start()
    try:
        described = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics([topic, published])}
        assert described == {topic: 3, published: 3}
    finally:
        await admin.close()
        await consumer.close()
        await bus.stop()


async def test_kafka_bus_reports_an_unreachable_broker_clearly():
    from shared.errors import TransientError
    from tests.integration.servers import free_port

    bus = KafkaBus(f"127.0.0.1:{free_port()}", session_timeout_ms=SESSION_MS)
    with pytest.raises(TransientError, match="cannot reach the Kafka broker"):
        await bus.start()


async def test_kafka_subscribe_returns_once_the_member_has_joined(tansu_broker):
    bus = KafkaBus(tansu_broker.bootstrap, session_timeout_ms=SESSION_MS)
    await bus.start()
    try:
        topic, group = names("joined")
        await bus.publish(topic, b"waiting", key="k")
        consumer = await bus.subscribe([topic], group)
        assert consumer.assignment() == {(topic, p) for p in range(4)}
        assert [d.value for d in await consumer.getmany(max_records=10, timeout_ms=2000)] == [b"waiting"]
        await consumer.close()
    finally:
        await bus.stop()


async def test_ensure_topics_takes_partition_counts_per_topic(tansu_broker):
    from aiokafka.admin import AIOKafkaAdminClient

    from shared.bus.kafka import ensure_topics

    one, _ = names("plan-one")
    two, _ = names("plan-two")
    assert sorted(await ensure_topics(tansu_broker.bootstrap, {one: 1, two: 2})) == sorted([one, two])
    assert await ensure_topics(tansu_broker.bootstrap, {one: 1, two: 2}) == []
    admin = AIOKafkaAdminClient(bootstrap_servers=tansu_broker.bootstrap)
    await admin.start()
    try:
        counts = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics([one, two])}
    finally:
        await admin.close()
    assert counts == {one: 1, two: 2}


async def test_a_closed_consumer_waits_out_its_timeout_instead_of_spinning(bus):
    topic, group = names("closed")
    consumer = await bus.subscribe([topic], group)
    await bus.stop()  # the bus goes first, as in a shutdown in the wrong order
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    assert await consumer.getmany(max_records=10, timeout_ms=200) == []
    task.cancel()
    assert ticks > 0  # it yielded to the event loop meanwhile
    await consumer.close()
