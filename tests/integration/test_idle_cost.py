"""An idle consumer costs (almost) nothing: with the default settings it sends a few fetch requests a
second, not one every 10 ms (which kept the broker and four workers at half a core with no jobs)."""
from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka.conn import AIOKafkaConnection

from shared.bus import open_bus
from shared.ids import random_hex
from shared.settings import Settings

pytestmark = pytest.mark.integration


def test_the_default_fetch_wait_costs_nothing_when_idle(tansu_broker, monkeypatch):
    fetches: list[float] = []
    send = AIOKafkaConnection.send

    def counting_send(self, request, *args, **kwargs):
        if type(request).__name__.startswith("FetchRequest"):
            fetches.append(time.monotonic())
        return send(self, request, *args, **kwargs)

    monkeypatch.setattr(AIOKafkaConnection, "send", counting_send)
    settings = Settings(bus="kafka", kafka_bootstrap=tansu_broker.bootstrap, kafka_session_timeout_ms=2000)
    assert settings.kafka_fetch_max_wait_ms >= 500

    async def idle() -> float:
        bus = open_bus(settings)
        await bus.start()
        topic = f"idle-{random_hex(8)}"
        await bus.ensure_topics([topic], 1)
        consumer = await bus.subscribe([topic], f"idle-{random_hex(8)}")
        try:
            assert await consumer.getmany(10, 500) == []
            fetches.clear()
            started = time.monotonic()
            while time.monotonic() - started < 3:
                assert await consumer.getmany(10, 200) == []  # the worker's own loop
            return time.monotonic() - started
        finally:
            await consumer.close()
            await bus.stop()

    elapsed = asyncio.run(idle())
    assert len(fetches) / elapsed <= 4, f"{len(fetches)} fetch requests in {elapsed:.1f} s of idling"
