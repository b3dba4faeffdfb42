"""Which proxies the gateway believes about the client's address (`FACECAST_TRUSTED_PROXIES`).

uvicorn by default takes `X-Forwarded-For` from 127.0.0.1 as the client address; the failed-authentication
limiter and the logs key on that address, so anything on the gateway's own host could pose as any client.
FaceCast trusts no proxy unless told: `FACECAST_TRUSTED_PROXIES=10.0.0.5,10.1.0.0/16` (or `*`), passed to
uvicorn's `forwarded_allow_ips` by `facecast serve` and `facecast gateway`."""
from __future__ import annotations

from shared.settings import Settings


def trusted_proxies(settings: Settings) -> list[str]:
    return [entry.strip() for entry in settings.trusted_proxies.split(",") if entry.strip()]


def uvicorn_proxy_options(settings: Settings) -> dict:
    """uvicorn's options: proxy headers only from the configured proxies; none configured, none read."""
    trusted = trusted_proxies(settings)
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": ",".join(trusted) if trusted else ""}
