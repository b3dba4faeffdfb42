"""Server-Sent Events: the `text/event-stream` parser (WHATWG HTML §9.2.6) for a job's event stream.

`GET /v1/jobs/{job_id}/events` sends one event per step change (`event:` the kind, `id:` a growing number,
`data:` JSON with `job_id`, `stage`, `step`, `status`, …) and ends with an `end` event whose data holds the
job's final `status`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, AsyncIterable, AsyncIterator, Iterable, Iterator, List, Optional

__all__ = ["SSEEvent", "SSEDecoder", "iter_sse", "aiter_sse"]


@dataclass
class SSEEvent:
    """One event: its type (`message` when unnamed), data lines joined by newlines, last event id, retry ms."""
    event: str = "message"
    data: str = ""
    id: Optional[str] = None
    retry: Optional[int] = None

    def json(self) -> Any:
        """The data parsed as JSON (None when empty)."""
        return json.loads(self.data) if self.data else None


class SSEDecoder:
    """Line-by-line decoder: `feed(line)` returns an event when a blank line completes one; `flush()` at EOF."""

    def __init__(self) -> None:
        self._event = ""
        self._data: List[str] = []
        self._last_id: Optional[str] = None
        self._retry: Optional[int] = None

    def feed(self, line: str) -> Optional[SSEEvent]:
        line = line.rstrip("\r\n")
        if line == "":
            return self.flush()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._last_id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def flush(self) -> Optional[SSEEvent]:
        """The pending event, if it has data; the event type and retry reset, the last id stays (per the spec)."""
        event = SSEEvent(self._event or "message", "\n".join(self._data), self._last_id, self._retry) \
            if self._data else None
        self._event, self._data, self._retry = "", [], None
        return event


def iter_sse(lines: Iterable[str]) -> Iterator[SSEEvent]:
    """Events from decoded lines (with or without their line ends)."""
    decoder = SSEDecoder()
    for line in lines:
        event = decoder.feed(line)
        if event is not None:
            yield event
    event = decoder.flush()
    if event is not None:
        yield event


async def aiter_sse(lines: AsyncIterable[str]) -> AsyncIterator[SSEEvent]:
    """Events from an async stream of decoded lines, each yielded as soon as its blank line arrives."""
    decoder = SSEDecoder()
    async for line in lines:
        event = decoder.feed(line)
        if event is not None:
            yield event
    event = decoder.flush()
    if event is not None:
        yield event
