"""Event bus: one interface, an in-process implementation (embedded default) and Kafka (aiokafka).

Delivery is at-least-once: a consumer commits a delivery only after its effects (output object,
next event) are durable, so a crash replays it and the idempotent stage forwards it again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Delivery:
    topic: str
    partition: int
    offset: int
    value: bytes
    key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Consumer(Protocol):
    async def getmany(self, max_records: int, timeout_ms: int) -> list[Delivery]: ...
    async def commit(self, topic: str, partition: int, next_offset: int) -> None: ...
    async def close(self) -> None: ...


class Bus(Protocol):
    durable: bool  # records survive this process (Kafka); False: the in-process bus, gone on a restart

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, topic: str, value: bytes, key: str | None = None,
                      headers: dict[str, str] | None = None) -> None:
        """Returns once the message is durable (acks=all on Kafka)."""
    async def subscribe(self, topics: list[str], group: str) -> Consumer:
        """A member of consumer group `group`; the group's members split the topics' partitions.
        Records handed out and not committed are delivered again after a rebalance or a restart."""
    async def ensure_topics(self, names: list[str], partitions: int | None = None) -> list[str]:
        """Create the topics that do not exist yet; return the names created."""


def open_bus(settings) -> Bus:
    if settings.bus == "kafka":
        from shared.bus.kafka import KafkaBus

        return KafkaBus(bootstrap=settings.kafka_bootstrap, session_timeout_ms=settings.kafka_session_timeout_ms,
                        max_message_bytes=settings.kafka_max_message_bytes,
                        # Kafka answers a fetch as soon as a record arrives; Tansu only after this wait
                        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms)
    from shared.bus.memory import MemoryBus

    return MemoryBus()
