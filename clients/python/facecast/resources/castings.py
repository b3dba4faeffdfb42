"""`/v1/castings`: cast candidate faces with a generator engine. Candidates are made in chunks (the first face
alone, then up to 4 at a time); a casting lists those made so far and `expected`, how many there will be."""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterator, AsyncIterator, Optional, Sequence, Set, Union

from .._errors import JobFailed, WaitTimeout
from ._base import AsyncResource, SyncResource, route, without_none
from .jobs import TERMINAL_STATUSES

READS = ("id", "status", "expected", "candidates.index", "error.message")
CREATE = route("POST", "/v1/castings", body=("n", "engine", "seed", "truncation", "category", "strength", "brief",
                                                   "near", "spread", "mix", "steps", "guidance"),
               reads=READS)
LIST = route("GET", "/v1/castings", query=("cursor", "limit"), reads=("data.id", "data.status", "next_cursor"))
GET = route("GET", "/v1/castings/{casting_id}", reads=READS)


def casting_body(n: int, category: Optional[str], strength: Optional[float], brief: Optional[str],
                 near: Union[Sequence[str], str, None], engine: Optional[str], seed: Optional[int],
                 truncation: Optional[float], spread: Optional[float], mix: Optional[float],
                 steps: Optional[int] = None, guidance: Optional[float] = None) -> Dict[str, Any]:
    body = {"n": n, **without_none(engine=engine, brief=brief, strength=strength, category=category, seed=seed,
                                   truncation=truncation, spread=spread, mix=mix, steps=steps, guidance=guidance)}
    if near:
        body["near"] = [near] if isinstance(near, str) else list(near)
    return body


class _CandidateWatch:
    """Calls `on_candidate` once for each candidate, as it first appears; tells when the casting is finished."""

    def __init__(self, casting_id: str, on_candidate: Optional[Callable[[Dict[str, Any]], Any]], timeout: float):
        self.casting_id = casting_id
        self.on_candidate = on_candidate
        self.seen: Set[Any] = set()
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout

    def finished(self, casting: Dict[str, Any]) -> bool:
        for candidate in casting.get("candidates") or []:
            if self.on_candidate is not None and candidate.get("index") not in self.seen:
                self.seen.add(candidate.get("index"))
                self.on_candidate(candidate)
        if casting.get("status") in TERMINAL_STATUSES:
            if casting.get("status") != "succeeded":
                raise JobFailed(casting)
            return True
        if time.monotonic() > self.deadline:
            raise WaitTimeout(f"casting {self.casting_id} still {casting.get('status')} after {self.timeout:.0f} s")
        return False


class Castings(SyncResource):
    def create_casting(self, *, n: int = 4, category: Optional[str] = None, strength: Optional[float] = None,
                       brief: Optional[str] = None, near: Union[Sequence[str], str, None] = None,
                       engine: Optional[str] = None, seed: Optional[int] = None, truncation: Optional[float] = None,
                       spread: Optional[float] = None, mix: Optional[float] = None, steps: Optional[int] = None,
                       guidance: Optional[float] = None) -> Dict[str, Any]:
        """Generate `n` candidates (a generator job) and return the casting (`status` queued). `category` and
        `strength` steer along a fitted label (the `diffusion` engine takes `category` as prompt words, no
        strength), `brief` is free text; `near` takes one or two candidate refs `<casting id>/<index>` or virtual
        model ids, with `spread` (0 the same face … 1 unrelated) and `mix` (the blend of two); `seed` is the
        first seed, `truncation` 0..1; `steps` and `guidance` (diffusion) default to the pipeline family's."""
        return self._call(CREATE, json=casting_body(n, category, strength, brief, near, engine, seed, truncation,
                                                    spread, mix, steps, guidance))

    def get_casting(self, casting_id: str) -> Dict[str, Any]:
        """The casting with the candidates made so far (presigned image URLs) and `expected`."""
        return self._call(GET, path={"casting_id": casting_id})

    def list_castings(self, *, limit: Optional[int] = None) -> Iterator[Dict[str, Any]]:
        """Every casting of the tenant, newest first, following the cursor across pages."""
        return self._pages(LIST, params=without_none(limit=limit))

    def wait_casting(self, casting_id: str, *, timeout: float = 300.0, poll_s: float = 0.5,
                     on_candidate: Optional[Callable[[Dict[str, Any]], Any]] = None) -> Dict[str, Any]:
        """Poll until the casting succeeded and return it; `on_candidate` is called once for each candidate,
        as it appears. Raises `JobFailed` (failed or canceled; candidates made before are still reported) or
        `WaitTimeout` after `timeout` seconds."""
        watch = _CandidateWatch(casting_id, on_candidate, timeout)
        while True:
            casting = self.get_casting(casting_id)
            if watch.finished(casting):
                return casting
            self._http.sleep(poll_s)


class AsyncCastings(AsyncResource):
    async def create_casting(self, *, n: int = 4, category: Optional[str] = None, strength: Optional[float] = None,
                             brief: Optional[str] = None, near: Union[Sequence[str], str, None] = None,
                             engine: Optional[str] = None, seed: Optional[int] = None,
                             truncation: Optional[float] = None, spread: Optional[float] = None,
                             mix: Optional[float] = None, steps: Optional[int] = None,
                             guidance: Optional[float] = None) -> Dict[str, Any]:
        """As `FaceCast.create_casting`."""
        return await self._call(CREATE, json=casting_body(n, category, strength, brief, near, engine, seed,
                                                          truncation, spread, mix, steps, guidance))

    async def get_casting(self, casting_id: str) -> Dict[str, Any]:
        """The casting with the candidates made so far (presigned image URLs) and `expected`."""
        return await self._call(GET, path={"casting_id": casting_id})

    async def list_castings(self, *, limit: Optional[int] = None) -> AsyncIterator[Dict[str, Any]]:
        """Every casting of the tenant, newest first, following the cursor across pages."""
        async for item in self._pages(LIST, params=without_none(limit=limit)):
            yield item

    async def wait_casting(self, casting_id: str, *, timeout: float = 300.0, poll_s: float = 0.5,
                           on_candidate: Optional[Callable[[Dict[str, Any]], Any]] = None) -> Dict[str, Any]:
        """Poll until the casting succeeded and return it; `on_candidate` is called once for each candidate,
        as it appears. Raises `JobFailed` (failed or canceled) or `WaitTimeout` after `timeout` seconds."""
        watch = _CandidateWatch(casting_id, on_candidate, timeout)
        while True:
            casting = await self.get_casting(casting_id)
            if watch.finished(casting):
                return casting
            await self._http.sleep(poll_s)
