"""`/v1/engines`: the engines of every stage, with their licences, demo flags and availability."""
from __future__ import annotations

from typing import Any, Dict

from ._base import AsyncResource, SyncResource, route

LIST = route("GET", "/v1/engines", reads=("data.stage", "data.engine", "data.licence", "data.commercial_use",
                                          "data.demo", "data.available"))


class Engines(SyncResource):
    def engines(self) -> Dict[str, Any]:
        """`{"data": [{stage, engine, licence, commercial_use, demo, weights, available, …}]}`."""
        return self._call(LIST)


class AsyncEngines(AsyncResource):
    async def engines(self) -> Dict[str, Any]:
        """`{"data": [{stage, engine, licence, commercial_use, demo, weights, available, …}]}`."""
        return await self._call(LIST)
