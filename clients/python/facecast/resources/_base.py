"""What every resource module builds on: `Route` (one API operation, as the gateway's OpenAPI names it) and the
sync and async resource bases that send a route through the client's transport.

Each route declares the request body fields and query parameters it may send (enforced when it is sent) and
the response fields the SDK reads, as dotted paths (`steps.status` is `status` of every item of `steps`).
`ROUTES` lists them all, so a contract test can check each against the gateway's OpenAPI document.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import quote

from .._http import AsyncHTTP, Call, SyncHTTP

__all__ = ["Route", "ROUTES", "route", "SyncResource", "AsyncResource", "page_of"]


@dataclass(frozen=True)
class Route:
    """One API operation: `method`, `template` (the OpenAPI path, e.g. `/v1/jobs/{job_id}:cancel`), the JSON
    `body` fields and `query` parameters it may send, the multipart `form` fields, and the response fields the
    SDK `reads`, all as dotted paths."""
    method: str
    template: str
    body: Tuple[str, ...] = ()
    query: Tuple[str, ...] = ()
    form: Tuple[str, ...] = ()
    reads: Tuple[str, ...] = ()

    def path(self, **params: Any) -> str:
        """The template with each `{name}` filled with its value, percent-encoded as one path segment."""
        return self.template.format(**{k: quote(str(v), safe="") for k, v in params.items()})

    def check(self, json: Any, params: Optional[Mapping[str, Any]], data: Optional[Mapping[str, Any]]) -> None:
        """Refuse to send a top-level body field, query parameter or form field the route does not declare."""
        for sent, declared, what in ((json, self.body, "body field"), (params, self.query, "query parameter"),
                                     (data, self.form, "form field")):
            if isinstance(sent, Mapping):
                allowed = {d.split(".", 1)[0] for d in declared}
                extra = sorted(set(sent) - allowed)
                if extra:
                    raise TypeError(f"{self.method} {self.template}: undeclared {what} {', '.join(extra)}")


ROUTES: List[Route] = []


def route(method: str, template: str, **declared: Tuple[str, ...]) -> Route:
    """Declare a route (see `Route`) and list it in `ROUTES`."""
    item = Route(method, template, **declared)
    ROUTES.append(item)
    return item


def page_of(payload: Mapping[str, Any]) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """A list response's items (`data`) and the cursor of the next page (`next_cursor`, None on the last)."""
    return list(payload.get("data") or []), payload.get("next_cursor")


def without_none(**fields: Any) -> Dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class SyncResource:
    """Base of the blocking resource mixins: `_call` sends a route through the client's `SyncHTTP`."""
    _http: SyncHTTP

    def _call(self, route: Route, *, path: Optional[Mapping[str, Any]] = None, json: Any = None,
              params: Optional[Dict[str, Any]] = None, data: Optional[Dict[str, Any]] = None,
              files: Any = None, idempotency_key: Optional[str] = None) -> Any:
        route.check(json, params, data)
        return self._http.call(Call(route.method, route.path(**(path or {})), params=params, json=json, data=data,
                                    files=files, idempotency_key=idempotency_key))

    def _pages(self, route: Route, *, path: Optional[Mapping[str, Any]] = None,
               params: Optional[Dict[str, Any]] = None):
        """Every item of a cursor-paginated list, page after page."""
        cursor = None
        while True:
            query = {**(params or {}), **({"cursor": cursor} if cursor else {})}
            items, cursor = page_of(self._call(route, path=path, params=query or None))
            yield from items
            if not cursor or not items:
                return


class AsyncResource:
    """Base of the asyncio resource mixins: `_call` sends a route through the client's `AsyncHTTP`."""
    _http: AsyncHTTP

    async def _call(self, route: Route, *, path: Optional[Mapping[str, Any]] = None, json: Any = None,
                    params: Optional[Dict[str, Any]] = None, data: Optional[Dict[str, Any]] = None,
                    files: Any = None, idempotency_key: Optional[str] = None) -> Any:
        route.check(json, params, data)
        return await self._http.call(Call(route.method, route.path(**(path or {})), params=params, json=json,
                                          data=data, files=files, idempotency_key=idempotency_key))

    async def _pages(self, route: Route, *, path: Optional[Mapping[str, Any]] = None,
                     params: Optional[Dict[str, Any]] = None):
        cursor = None
        while True:
            query = {**(params or {}), **({"cursor": cursor} if cursor else {})}
            items, cursor = page_of(await self._call(route, path=path, params=query or None))
            for item in items:
                yield item
            if not cursor or not items:
                return
