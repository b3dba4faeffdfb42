"""In-process bus for the embedded default and unit tests.

One partition per topic. Each consumer group has a committed offset and a dispatch cursor per topic
that its members share, so a group's members split the work (each record goes to one member) as in
Kafka. When a group's membership changes (a member subscribes or closes) the cursor goes back to the
committed offset, as an eager Kafka rebalance does: records handed out but not yet committed are
delivered again, to whichever member asks first. That is the same at-least-once contract as Kafka.
"""
from __future__ import annotations

import asyncio
from collections import defaultdict

from shared.bus import Delivery


class MemoryBus:
    def __init__(self) -> None:
        self._topics: dict[str, list[Delivery]] = defaultdict(list)
        self._committed: dict[tuple[str, str], int] = defaultdict(int)  # (group, topic) -> next offset
        self._cursor: dict[tuple[str, str], int] = {}  # (group, topic) -> next offset to hand out
        self._members: dict[str, set[MemoryConsumer]] = defaultdict(set)
        self._changed: asyncio.Condition | None = None

    @property
    def changed(self) -> asyncio.Condition:
        if self._changed is None:  # created lazily, inside the running loop
            self._changed = asyncio.Condition()
        return self._changed

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for members in list(self._members.values()):
            for consumer in list(members):
                await consumer.close()

    async def publish(self, topic: str, value: bytes, key: str | None = None,
                      headers: dict[str, str] | None = None) -> None:
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"a message value must be bytes, not {type(value).__name__}")
        async with self.changed:
            log = self._topics[topic]
            log.append(Delivery(topic=topic, partition=0, offset=len(log), value=bytes(value), key=key,
                                headers=dict(headers or {})))
            self.changed.notify_all()

    async def ensure_topics(self, names: list[str], partitions: int | None = None) -> list[str]:
        created = [n for n in names if n not in self._topics]
        for name in created:
            self._topics[name]  # noqa: B018 - defaultdict creates it
        return created

    async def subscribe(self, topics: list[str], group: str) -> "MemoryConsumer":
        consumer = MemoryConsumer(self, list(topics), group)
        self._rebalance(group)
        self._members[group].add(consumer)
        return consumer

    def _rebalance(self, group: str) -> None:
        for (g, topic) in list(self._cursor):
            if g == group:
                self._cursor[(g, topic)] = self._committed[(g, topic)]

    def messages(self, topic: str) -> list[Delivery]:
        """Everything ever published to `topic` (tests and `facecast dlq list` read this)."""
        return list(self._topics.get(topic, ()))

    def topics(self) -> list[str]:
        return sorted(self._topics)

    def committed(self, group: str, topic: str) -> int:
        return self._committed[(group, topic)]


class MemoryConsumer:
    def __init__(self, bus: MemoryBus, topics: list[str], group: str) -> None:
        self._bus = bus
        self._group = group
        self._topics = topics
        self._closed = False
        for topic in topics:
            bus._cursor.setdefault((group, topic), bus._committed[(group, topic)])

    def _ready(self, max_records: int) -> list[Delivery]:
        batch: list[Delivery] = []
        for topic in self._topics:
            key = (self._group, topic)
            pos = self._bus._cursor[key]
            log = self._bus._topics[topic]
            take = log[pos:pos + max_records - len(batch)]
            batch.extend(take)
            self._bus._cursor[key] = pos + len(take)
            if len(batch) >= max_records:
                break
        return batch

    async def getmany(self, max_records: int, timeout_ms: int) -> list[Delivery]:
        if self._closed:  # closed under a running loop (bus stopped first): never spin
            await asyncio.sleep(max(0, timeout_ms) / 1000)
            return []
        cond = self._bus.changed
        async with cond:
            batch = self._ready(max_records)
            if batch or timeout_ms <= 0:
                return batch
            try:
                await asyncio.wait_for(cond.wait_for(lambda: self._closed or self._has_ready()), timeout_ms / 1000)
            except asyncio.TimeoutError:
                return []
            return [] if self._closed else self._ready(max_records)

    def _has_ready(self) -> bool:
        return any(self._bus._cursor[(self._group, t)] < len(self._bus._topics[t]) for t in self._topics)

    async def commit(self, topic: str, partition: int, next_offset: int) -> None:
        if self._closed:
            return  # like a member that left its group: the next owner replays
        if partition != 0 or topic not in self._topics:
            raise ValueError(f"{topic}/{partition} is not assigned to this consumer")
        key = (self._group, topic)
        self._bus._committed[key] = max(self._bus._committed[key], min(next_offset, len(self._bus._topics[topic])))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        members = self._bus._members[self._group]
        members.discard(self)
        self._bus._rebalance(self._group)
        async with self._bus.changed:
            self._bus.changed.notify_all()
