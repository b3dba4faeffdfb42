"""Kafka bus on aiokafka (works with Apache Kafka and with the Tansu broker the tests start).

- Producer: `acks="all"`; no idempotence and no transactions (Tansu lacks both); `publish` returns
  once the broker has acknowledged the record.
- Consumers: one group per stage, `enable_auto_commit=False`, `auto_offset_reset="earliest"` (Tansu's
  end offsets are unreliable, so "latest" would replay old records anyway). The runtime commits
  explicit offsets only after an event's effects are durable.
- Rebalances: when a partition is revoked, the listener waits a short grace for the events already
  handed out from it to be committed; whatever is still uncommitted afterwards is redelivered to the
  partition's next owner (from the last committed offset). A late commit for a partition this
  consumer no longer owns is refused by the broker or by aiokafka and dropped here: the new owner
  replays the event and the idempotent stage forwards it again.
- Topics: `subscribe` and the first `publish` to a topic create it when it is missing (so nothing
  depends on the broker's auto-create, and a consumer never waits for a producer to create its topic);
  `ensure_topics` is also what `facecast topics create` calls, with per-topic partition counts.
"""
from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (CommitFailedError, IllegalStateError, KafkaError, MessageSizeTooLargeError,
                             TopicAlreadyExistsError)

from shared.bus import Delivery
from shared.errors import FaceCastError, TransientError

logger = logging.getLogger("facecast.bus.kafka")
DEFAULT_PARTITIONS = 4
FETCH_HEADROOM = 64 * 1024  # record batch overhead on top of the largest message


class MessageTooLarge(FaceCastError):
    code = "message-too-large"


async def ensure_topics(bootstrap: str, names: list[str] | dict[str, int], partitions: int = DEFAULT_PARTITIONS,
                        replication_factor: int = 1, timeout_ms: int = 10_000) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    `names` is a list (each topic gets `partitions`) or a mapping name → partition count. Existing
    topics are left as they are (Tansu cannot add partitions; Kafka can, with kafka-topics)."""
    wanted = dict(names) if isinstance(names, dict) else dict.fromkeys(names, partitions)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    try:
        await admin.start()
    except KafkaError as exc:
        await admin.close()
        raise TransientError(f"cannot reach the Kafka broker at {bootstrap}: {exc}") from exc
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in wanted if n not in existing]
        if not missing:
            return []
        try:
            await admin.create_topics([NewTopic(name=n, num_partitions=wanted[n],
                                                replication_factor=replication_factor) for n in missing],
                                      timeout_ms=timeout_ms)
        except TopicAlreadyExistsError:  # another process won the race
            pass
        return missing
    finally:
        await admin.close()


async def list_topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(await admin.list_topics())
    finally:
        await admin.close()


class KafkaBus:
    durable = True  # records outlive every process: a restarted consumer resumes from its committed offset

    def __init__(self, bootstrap: str, session_timeout_ms: int = 10_000, max_message_bytes: int = 1_048_576,
                 partitions: int = DEFAULT_PARTITIONS, fetch_max_wait_ms: int = 20, revoke_grace_s: float = 5.0,
                 client_id: str = "facecast") -> None:
        self.bootstrap = bootstrap
        self.session_timeout_ms = session_timeout_ms
        self.max_message_bytes = max_message_bytes
        self.partitions = partitions
        self.fetch_max_wait_ms = fetch_max_wait_ms
        # waiting in the revoke callback longer than the rebalance timeout (= session timeout) would get
        # this member thrown out of the group, so the grace stays under half of it
        self.revoke_grace_s = min(revoke_grace_s, session_timeout_ms / 2000)
        self.client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._consumers: set[KafkaConsumer] = set()
        self._known_topics: set[str] = set()

    async def start(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, client_id=self.client_id, acks="all",
                                    enable_idempotence=False, max_request_size=self.max_message_bytes + FETCH_HEADROOM,
                                    linger_ms=0, request_timeout_ms=max(30_000, self.session_timeout_ms))
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise TransientError(f"cannot reach the Kafka broker at {self.bootstrap}: {exc}") from exc
        self._producer = producer

    async def stop(self) -> None:
        for consumer in list(self._consumers):
            await consumer.close()
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def ensure_topics(self, names: list[str], partitions: int | None = None) -> list[str]:
        wanted = [n for n in names if n not in self._known_topics]
        if not wanted:
            return []
        created = await ensure_topics(self.bootstrap, wanted, partitions or self.partitions)
        self._known_topics.update(wanted)
        return created

    async def publish(self, topic: str, value: bytes, key: str | None = None,
                      headers: dict[str, str] | None = None) -> None:
        if self._producer is None:
            raise RuntimeError("KafkaBus.publish before start()")
        if len(value) > self.max_message_bytes:
            raise MessageTooLarge(f"a {len(value)}-byte message to {topic} is over the {self.max_message_bytes}-byte "
                                  "limit (FACECAST_KAFKA_MAX_MESSAGE_BYTES); images travel as object keys, not bytes")
        if topic not in self._known_topics:  # once per topic: brokers with auto-create off would stall here
            await self.ensure_topics([topic])
        try:
            await self._producer.send_and_wait(
                topic, value, key=key.encode() if key is not None else None,
                headers=[(k, v.encode()) for k, v in (headers or {}).items()] or None)
        except MessageSizeTooLargeError as exc:
            raise MessageTooLarge(f"the broker refused a {len(value)}-byte message to {topic}: {exc}") from exc

    async def subscribe(self, topics: list[str], group: str) -> "KafkaConsumer":
        await self.ensure_topics(topics)
        consumer = KafkaConsumer(self, list(topics), group)
        await consumer.start()
        self._consumers.add(consumer)
        return consumer


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: "KafkaConsumer") -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked) -> None:
        await self.owner._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned) -> None:
        self.owner._on_assigned(set(assigned))


class KafkaConsumer:
    def __init__(self, bus: KafkaBus, topics: list[str], group: str) -> None:
        self.bus = bus
        self.topics = topics
        self.group = group
        self._handed: dict[TopicPartition, int] = {}  # next offset after the last record handed out
        self._committed: dict[TopicPartition, int] = {}  # last offset this member committed
        self._commit_event = asyncio.Event()
        self._joined = asyncio.Event()
        self.rebalances = 0
        fetch_bytes = bus.max_message_bytes + FETCH_HEADROOM
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bus.bootstrap, client_id=bus.client_id, group_id=group,
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=bus.session_timeout_ms, heartbeat_interval_ms=max(100, bus.session_timeout_ms // 3),
            max_partition_fetch_bytes=fetch_bytes, fetch_max_bytes=max(fetch_bytes, 52_428_800),
            fetch_max_wait_ms=bus.fetch_max_wait_ms, metadata_max_age_ms=30_000)
        self._closed = False

    async def start(self) -> None:
        self._consumer.subscribe(self.topics, listener=_Listener(self))
        try:
            await self._consumer.start()
        except KafkaError as exc:
            await self._consumer.stop()
            raise TransientError(f"cannot reach the Kafka broker at {self.bus.bootstrap}: {exc}") from exc
        # return once the member has joined its group (its first assignment, possibly empty), so that
        # "subscribed" means "will receive records"; a slow join is logged, not fatal
        join_timeout_s = max(10.0, 3 * self.bus.session_timeout_ms / 1000)
        try:
            await asyncio.wait_for(self._joined.wait(), join_timeout_s)
        except asyncio.TimeoutError:
            logger.warning(f"group {self.group} not joined after {join_timeout_s:.0f} s; records will flow once it is")

    # ---- rebalance ---------------------------------------------------------------------------
    def _outstanding(self, tps: set[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self._handed[tp] for tp in tps
                if tp in self._handed and self._committed.get(tp, -1) < self._handed[tp]}

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        self.rebalances += 1
        deadline = time.monotonic() + self.bus.revoke_grace_s
        while (waiting := self._outstanding(revoked)) and time.monotonic() < deadline:
            self._commit_event.clear()
            try:
                await asyncio.wait_for(self._commit_event.wait(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
        if waiting := self._outstanding(revoked):
            logger.info("partitions revoked with uncommitted events; their next owner replays them",
                        extra={"fields": {"group": self.group, "partitions": sorted(f"{tp.topic}/{tp.partition}"
                                                                                   for tp in waiting)}})
        for tp in revoked:
            self._handed.pop(tp, None)

    def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        for tp in assigned:
            self._handed.pop(tp, None)
            self._committed.pop(tp, None)
        self._joined.set()

    def assignment(self) -> set[tuple[str, int]]:
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    # ---- Consumer protocol -------------------------------------------------------------------
    async def getmany(self, max_records: int, timeout_ms: int) -> list[Delivery]:
        if self._closed:  # closed under a running loop (bus stopped first): never spin
            await asyncio.sleep(max(0, timeout_ms) / 1000)
            return []
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        out: list[Delivery] = []
        for tp, records in batches.items():
            for r in records:
                out.append(Delivery(topic=r.topic, partition=r.partition, offset=r.offset, value=r.value,
                                    key=r.key.decode() if r.key is not None else None,
                                    headers={k: (v or b"").decode(errors="replace") for k, v in (r.headers or ())}))
            if records:
                self._handed[tp] = max(self._handed.get(tp, 0), records[-1].offset + 1)
        return out

    async def commit(self, topic: str, partition: int, next_offset: int) -> None:
        """Commit `next_offset` for the partition. Never moves a committed offset backwards; a commit
        for a partition this member lost in a rebalance is dropped (the new owner replays)."""
        tp = TopicPartition(topic, partition)
        if self._committed.get(tp, -1) >= next_offset:
            return
        try:
            await self._consumer.commit({tp: next_offset})
        except (CommitFailedError, IllegalStateError) as exc:
            logger.warning(f"commit of {topic}/{partition}@{next_offset} dropped: {exc}",
                           extra={"fields": {"group": self.group}})
            return
        self._committed[tp] = next_offset
        self._commit_event.set()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.bus._consumers.discard(self)
        await self._consumer.stop()
