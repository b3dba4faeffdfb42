"""The API's resources, each a module with its blocking and asyncio mixins side by side (`PAIRS`)."""
from __future__ import annotations

from ._base import ROUTES, Route
from .castings import AsyncCastings, Castings
from .categories import AsyncCategories, Categories
from .engines import AsyncEngines, Engines
from .jobs import AsyncJobs, Jobs
from .tenants import AsyncTenants, Tenants
from .uploads import AsyncUploads, Uploads
from .virtual_models import AsyncVirtualModels, VirtualModels
from .webhook_endpoints import AsyncWebhookEndpoints, WebhookEndpoints

PAIRS = ((Jobs, AsyncJobs), (Uploads, AsyncUploads), (Castings, AsyncCastings),
         (VirtualModels, AsyncVirtualModels), (Categories, AsyncCategories), (Engines, AsyncEngines),
         (WebhookEndpoints, AsyncWebhookEndpoints), (Tenants, AsyncTenants))

__all__ = ["PAIRS", "ROUTES", "Route"]
