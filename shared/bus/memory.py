"""In-process bus for the embedded default and unit tests.

One partition per topic, offsets in publish order. Each consumer group has its own view of a topic:
a committed offset (every record below it is done), the records handed out and not yet committed, and
the records still to hand out. Its members share that view, so each record goes to one member, as in
Kafka. When a group's membership changes (a member subscribes or closes), every record handed out but
not committed is handed out again, to whichever member asks first, as an eager Kafka rebalance does:
the same at-least-once contract as Kafka.

Two differences from one Kafka partition, both on purpose:
- Fair across keys: records are handed out round-robin over their keys (the runtime keys requests by
  tenant), so one tenant's backlog cannot starve another tenant's jobs. Records of one key keep
  their order. A commit covers only records that the committing member was handed, so a record
  skipped for fairness is never committed by accident.
- Bounded memory: once every group subscribed to a topic has committed a record, the record is
  dropped, except the last `history` of them (kept for inspection: tests, `messages`). Records no
  group has subscribed to yet (a DLQ, a stage not running here) are kept: they are pending work.
"""
from __future__ import annotations

import asyncio
from collections import deque

from shared.bus import Delivery

DEFAULT_HISTORY = 1000


class _GroupView:
    """One consumer group's position in one topic."""

    def __init__(self, low: int) -> None:
        self.low = low  # committed: every offset below is done
        self.done: set[int] = set()  # committed offsets at or above `low` (commits of other keys ran ahead)
        self.out: dict[int, MemoryConsumer] = {}  # handed out, not committed: offset -> member
        self.waiting: dict[str, deque[int]] = {}  # per key: offsets to hand out, in order
        self.turns: deque[str] = deque()  # keys with offsets waiting, round-robin

    def enqueue(self, key: str, offset: int) -> None:
        queue = self.waiting.get(key)
        if queue is None:
            self.waiting[key] = queue = deque()
            self.turns.append(key)
        queue.append(offset)

    def take(self) -> int:
        key = self.turns.popleft()
        queue = self.waiting[key]
        offset = queue.popleft()
        if queue:
            self.turns.append(key)
        else:
            del self.waiting[key]
        return offset

    def hand_back(self, keys: dict[int, str]) -> None:
        """Rebalance: every record handed out and not committed waits again, ahead of its key's others
        (it came before them) and with its key's turn first."""
        by_key: dict[str, list[int]] = {}
        for offset in sorted(self.out):
            by_key.setdefault(keys[offset], []).append(offset)
        self.out.clear()
        for key, offsets in by_key.items():
            queue = self.waiting.get(key)
            if queue is None:
                self.waiting[key] = deque(offsets)
            else:
                queue.extendleft(reversed(offsets))
                self.turns.remove(key)
            self.turns.appendleft(key)


class _Topic:
    def __init__(self) -> None:
        self.records: dict[int, Delivery] = {}  # offset -> record, oldest first
        self.base = 0  # the oldest offset still kept
        self.end = 0  # the next offset
        self.groups: dict[str, _GroupView] = {}


class MemoryBus:
    durable = False  # records live in this process only: after a restart the database is the truth

    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        self.history = history
        self._topics: dict[str, _Topic] = {}
        self._members: dict[str, set[MemoryConsumer]] = {}
        self._changed: asyncio.Condition | None = None

    @property
    def changed(self) -> asyncio.Condition:
        if self._changed is None:  # created lazily, inside the running loop
            self._changed = asyncio.Condition()
        return self._changed

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            self._topics[name] = topic = _Topic()
        return topic

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
            t = self._topic(topic)
            offset = t.end
            t.records[offset] = Delivery(topic=topic, partition=0, offset=offset, value=bytes(value), key=key,
                                         headers=dict(headers or {}))
            t.end += 1
            for view in t.groups.values():
                view.enqueue(key or "", offset)
            self.changed.notify_all()

    async def ensure_topics(self, names: list[str], partitions: int | None = None) -> list[str]:
        created = [n for n in names if n not in self._topics]
        for name in created:
            self._topic(name)
        return created

    async def subscribe(self, topics: list[str], group: str) -> "MemoryConsumer":
        for name in topics:
            t = self._topic(name)
            if group not in t.groups:  # a new group starts at the oldest record kept (Kafka: "earliest")
                view = t.groups[group] = _GroupView(t.base)
                for offset, record in t.records.items():
                    view.enqueue(record.key or "", offset)
        consumer = MemoryConsumer(self, list(topics), group)
        self._rebalance(group)
        self._members.setdefault(group, set()).add(consumer)
        return consumer

    def _rebalance(self, group: str) -> None:
        for t in self._topics.values():
            view = t.groups.get(group)
            if view is not None and view.out:
                view.hand_back({offset: t.records[offset].key or "" for offset in view.out})

    def _commit(self, consumer: "MemoryConsumer", topic: str, next_offset: int) -> None:
        t = self._topics[topic]
        view = t.groups[consumer.group]
        for offset in [o for o, member in view.out.items() if member is consumer and o < next_offset]:
            del view.out[offset]
            view.done.add(offset)
        while view.low in view.done:
            view.done.discard(view.low)
            view.low += 1
        self._trim(t)

    def _trim(self, t: _Topic) -> None:
        """Drop records every group has committed, but the last `history` of them."""
        keep_from = min(view.low for view in t.groups.values()) - self.history
        while t.base < keep_from:
            del t.records[t.base]
            t.base += 1

    def messages(self, topic: str) -> list[Delivery]:
        """The records of `topic` still kept (see the module docstring; tests and inspection read this)."""
        t = self._topics.get(topic)
        return list(t.records.values()) if t is not None else []

    def topics(self) -> list[str]:
        return sorted(self._topics)

    def committed(self, group: str, topic: str) -> int:
        t = self._topics.get(topic)
        view = t.groups.get(group) if t is not None else None
        return view.low if view is not None else 0


class MemoryConsumer:
    def __init__(self, bus: MemoryBus, topics: list[str], group: str) -> None:
        self._bus = bus
        self.group = group
        self._topics = topics
        self._closed = False

    def _ready(self, max_records: int) -> list[Delivery]:
        batch: list[Delivery] = []
        for name in self._topics:
            t = self._bus._topics[name]
            view = t.groups[self.group]
            while view.turns and len(batch) < max_records:
                offset = view.take()
                view.out[offset] = self
                batch.append(t.records[offset])
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
        return any(self._bus._topics[name].groups[self.group].turns for name in self._topics)

    async def commit(self, topic: str, partition: int, next_offset: int) -> None:
        """Marks done the records below `next_offset` that were handed to this member."""
        if self._closed:
            return  # like a member that left its group: the next owner replays
        if partition != 0 or topic not in self._topics:
            raise ValueError(f"{topic}/{partition} is not assigned to this consumer")
        self._bus._commit(self, topic, next_offset)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        members = self._bus._members.get(self.group, set())
        members.discard(self)
        self._bus._rebalance(self.group)
        async with self._bus.changed:
            self._bus.changed.notify_all()
