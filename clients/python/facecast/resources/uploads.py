"""`/v1/uploads`: presigned uploads. `upload` reserves one and PUTs the image to its URL (without the API key);
the returned upload id goes into a job (`"upload:<id>"`), a makeup reference or a portrait import."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, Tuple

from .._errors import FaceCastError
from ..inputs import ImageInput, ImageLike, to_inputs
from ._base import AsyncResource, SyncResource, route

CREATE = route("POST", "/v1/uploads", body=("content_type", "filename"), reads=("id", "url", "method", "headers"))
GET = route("GET", "/v1/uploads/{upload_id}", reads=("id", "url", "method", "headers"))
DELETE = route("DELETE", "/v1/uploads/{upload_id}")


def _image(image: ImageLike) -> ImageInput:
    item = to_inputs(image)[0].loaded()
    if item.data is None:
        raise FaceCastError("only files and bytes can be uploaded")
    return item


def _put(grant: Dict[str, Any], item: ImageInput) -> Tuple[str, str, Dict[str, str]]:
    return grant.get("method", "PUT"), grant["url"], {"Content-Type": item.content_type, **(grant.get("headers") or {})}


class Uploads(SyncResource):
    def upload(self, image: ImageLike) -> str:
        """Upload one image (a path, bytes or `ImageInput`) through a presigned PUT; returns its upload id."""
        item = _image(image)
        grant = self._call(CREATE, json={"content_type": item.content_type, "filename": item.name})
        method, url, headers = _put(grant, item)
        self._http.presigned(method, url, content=item.data, headers=headers)
        return grant["id"]

    def get_upload(self, upload_id: str) -> Dict[str, Any]:
        """The upload with a fresh presigned PUT `url` (when the first one expired)."""
        return self._call(GET, path={"upload_id": upload_id})

    def delete_upload(self, upload_id: str) -> None:
        """Delete the uploaded image now (jobs that used it keep their results)."""
        self._call(DELETE, path={"upload_id": upload_id})


class AsyncUploads(AsyncResource):
    async def upload(self, image: ImageLike) -> str:
        """Upload one image (a path, bytes or `ImageInput`) through a presigned PUT; returns its upload id."""
        item = await asyncio.to_thread(_image, image)
        grant = await self._call(CREATE, json={"content_type": item.content_type, "filename": item.name})
        method, url, headers = _put(grant, item)
        await self._http.presigned(method, url, content=item.data, headers=headers)
        return grant["id"]

    async def get_upload(self, upload_id: str) -> Dict[str, Any]:
        """The upload with a fresh presigned PUT `url` (when the first one expired)."""
        return await self._call(GET, path={"upload_id": upload_id})

    async def delete_upload(self, upload_id: str) -> None:
        """Delete the uploaded image now (jobs that used it keep their results)."""
        await self._call(DELETE, path={"upload_id": upload_id})
