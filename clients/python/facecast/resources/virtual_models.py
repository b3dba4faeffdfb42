"""`/v1/virtual-models`: faces kept for swapping, from an accepted casting candidate or an imported portrait
(with a consent attestation)."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

from ..inputs import ImageInput, ImageLike, to_inputs
from ._base import AsyncResource, SyncResource, route

READS = ("id", "name", "engine", "engine_info")
CREATE = route("POST", "/v1/virtual-models", body=("casting_id", "candidate", "name"), reads=READS)
IMPORT = route("POST", "/v1/virtual-models:import",
               body=("name", "image.upload_id", "image.key", "image.url", "consent.subject_name",
                     "consent.rights_holder", "consent.consent_obtained", "consent.commercial_use_permitted",
                     "consent.evidence_reference"), reads=READS)
LIST = route("GET", "/v1/virtual-models", query=("cursor", "limit"), reads=("data.id", "next_cursor"))
GET = route("GET", "/v1/virtual-models/{model_id}", reads=READS)
UPDATE = route("PATCH", "/v1/virtual-models/{model_id}", body=("name",), reads=READS)
DELETE = route("DELETE", "/v1/virtual-models/{model_id}")


def import_body(name: str, image: ImageInput, subject_name: str, rights_holder: str,
                commercial_use_permitted: bool, evidence_reference: str) -> Dict[str, Any]:
    return {"name": name, "image": image.as_json(),
            "consent": {"subject_name": subject_name, "rights_holder": rights_holder, "consent_obtained": True,
                        "commercial_use_permitted": commercial_use_permitted,
                        "evidence_reference": evidence_reference}}


class VirtualModels(SyncResource):
    def accept_candidate(self, casting_id: str, candidate: int, name: str) -> Dict[str, Any]:
        """Keep candidate number `candidate` of a casting as a virtual model named `name`; returns the model."""
        return self._call(CREATE, json={"casting_id": casting_id, "candidate": candidate, "name": name})

    def import_virtual_model(self, image: ImageLike, *, name: str, subject_name: str, rights_holder: str,
                             commercial_use_permitted: bool, evidence_reference: str) -> Dict[str, Any]:
        """Import a portrait the shop has rights to (a file or bytes are uploaded first; an https URL or
        `"upload:<id>"` is passed on). The person shown consented (`consent_obtained`); the attestation is
        recorded with the model."""
        item = to_inputs(image)[0].loaded()
        if item.data is not None:
            item = ImageInput(name=item.name, upload_id=self.upload(item))
        return self._call(IMPORT, json=import_body(name, item, subject_name, rights_holder,
                                                   commercial_use_permitted, evidence_reference))

    def virtual_models(self) -> List[Dict[str, Any]]:
        """Every virtual model of the tenant, newest first."""
        return list(self._pages(LIST))

    def get_virtual_model(self, model_id: str) -> Dict[str, Any]:
        return self._call(GET, path={"model_id": model_id})

    def rename_virtual_model(self, model_id: str, name: str) -> Dict[str, Any]:
        return self._call(UPDATE, path={"model_id": model_id}, json={"name": name})

    def delete_virtual_model(self, model_id: str) -> None:
        """Delete the model with its portrait and latent."""
        self._call(DELETE, path={"model_id": model_id})


class AsyncVirtualModels(AsyncResource):
    async def accept_candidate(self, casting_id: str, candidate: int, name: str) -> Dict[str, Any]:
        """Keep candidate number `candidate` of a casting as a virtual model named `name`; returns the model."""
        return await self._call(CREATE, json={"casting_id": casting_id, "candidate": candidate, "name": name})

    async def import_virtual_model(self, image: ImageLike, *, name: str, subject_name: str, rights_holder: str,
                                   commercial_use_permitted: bool, evidence_reference: str) -> Dict[str, Any]:
        """As `FaceCast.import_virtual_model`."""
        item = await asyncio.to_thread(lambda: to_inputs(image)[0].loaded())
        if item.data is not None:
            item = ImageInput(name=item.name, upload_id=await self.upload(item))
        return await self._call(IMPORT, json=import_body(name, item, subject_name, rights_holder,
                                                         commercial_use_permitted, evidence_reference))

    async def virtual_models(self) -> List[Dict[str, Any]]:
        """Every virtual model of the tenant, newest first."""
        return [m async for m in self._pages(LIST)]

    async def get_virtual_model(self, model_id: str) -> Dict[str, Any]:
        return await self._call(GET, path={"model_id": model_id})

    async def rename_virtual_model(self, model_id: str, name: str) -> Dict[str, Any]:
        return await self._call(UPDATE, path={"model_id": model_id}, json={"name": name})

    async def delete_virtual_model(self, model_id: str) -> None:
        """Delete the model with its portrait and latent."""
        await self._call(DELETE, path={"model_id": model_id})
