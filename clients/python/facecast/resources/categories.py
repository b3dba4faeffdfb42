"""`/v1/categories`: labels (moods such as 청량한 "fresh") a tenant teaches by marking casting candidates as
fitting or not, then fits as a direction in the generator's latent space, or, for the `diffusion` engine, the
prompt words a tenant edits (the five seed moods come ready); castings then take `category`."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from ._base import AsyncResource, SyncResource, route, without_none

LIST = route("GET", "/v1/categories", reads=("data.label", "data.engine"))
ADD_EXAMPLE = route("POST", "/v1/categories/{label}/examples", body=("casting_id", "candidate", "fits"),
                    reads=("counts",))
FIT = route("POST", "/v1/categories/{label}:fit", body=("engine", "default_strength"), reads=("label", "report"))
WORDS = route("PUT", "/v1/categories/{label}/words", body=("phrase", "negative", "labels"),
              reads=("label", "kind", "words", "ready"))


class Categories(SyncResource):
    def categories(self) -> List[Dict[str, Any]]:
        """Every category (`label`, `engine`, `kind` direction | words, `ready`, `source` tenant | seed, and
        `default_strength` / `report` of a fitted direction or `words` of a word category)."""
        return self._call(LIST)["data"]

    def set_category_words(self, label: str, phrase: str, *, negative: Optional[str] = None,
                           labels: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        """The tenant's own prompt words for a label (diffusion engine); over a seed mood, they replace its words."""
        return self._call(WORDS, path={"label": label},
                          json={"phrase": phrase, **without_none(negative=negative, labels=labels)})

    def add_category_example(self, label: str, casting_id: str, candidate: int, fits: bool) -> Dict[str, Any]:
        """Mark a casting candidate as fitting (or not) the label; returns the example with `counts` so far."""
        return self._call(ADD_EXAMPLE, path={"label": label},
                          json={"casting_id": casting_id, "candidate": candidate, "fits": fits})

    def fit_category(self, label: str, *, engine: Optional[str] = None,
                     default_strength: Optional[float] = None) -> Dict[str, Any]:
        """Fit the label's direction from its examples (at least 10 of each kind)."""
        return self._call(FIT, path={"label": label},
                          json=without_none(engine=engine, default_strength=default_strength))


class AsyncCategories(AsyncResource):
    async def categories(self) -> List[Dict[str, Any]]:
        """As `FaceCast.categories`."""
        return (await self._call(LIST))["data"]

    async def set_category_words(self, label: str, phrase: str, *, negative: Optional[str] = None,
                                 labels: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        """As `FaceCast.set_category_words`."""
        return await self._call(WORDS, path={"label": label},
                                json={"phrase": phrase, **without_none(negative=negative, labels=labels)})

    async def add_category_example(self, label: str, casting_id: str, candidate: int, fits: bool) -> Dict[str, Any]:
        """Mark a casting candidate as fitting (or not) the label; returns the example with `counts` so far."""
        return await self._call(ADD_EXAMPLE, path={"label": label},
                                json={"casting_id": casting_id, "candidate": candidate, "fits": fits})

    async def fit_category(self, label: str, *, engine: Optional[str] = None,
                           default_strength: Optional[float] = None) -> Dict[str, Any]:
        """Fit the label's direction from its examples (at least 10 of each kind)."""
        return await self._call(FIT, path={"label": label},
                                json=without_none(engine=engine, default_strength=default_strength))
