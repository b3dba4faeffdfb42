"""FaceCast Studio: the sellers' web app, static files served by the gateway at `/studio`.

Plain JavaScript modules (no build step, no external CDN). The page signs in with an API key kept in
`sessionStorage` and talks to the same public API as every other client. `mount_studio(app)` adds the
routes; the responses carry a strict Content-Security-Policy (scripts only from this origin).
"""
from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import urlparse

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response

STATIC_DIR = Path(__file__).resolve().parent / "static"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".html": "text/html; charset=utf-8", ".json": "application/json; charset=utf-8",
         ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}


def _origin(url: str) -> str | None:
    parsed = urlparse(url if "://" in url else f"http://{url}")
    return f"{parsed.scheme}://{parsed.netloc}" if parsed.netloc else None


def content_security_policy(extra_origins: list[str] | tuple[str, ...] = ()) -> str:
    """Scripts, styles and fonts only from this origin; images, uploads and downloads may also use the
    object store's origin (presigned URLs) and blob: URLs made in the page."""
    extra = " ".join(sorted({o for o in extra_origins if o}))
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' blob: data: {extra}".rstrip(),
        f"connect-src 'self' {extra}".rstrip(),
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def _store_origins(app: FastAPI) -> list[str]:
    """Origins of presigned URLs: the gateway's public URL (local store) and the S3 endpoint."""
    gateway = getattr(app.state, "gateway", None)
    settings = getattr(gateway, "settings", None)
    if settings is None:
        from shared.settings import get_settings

        settings = get_settings()
    origins = [_origin(settings.public_url)]
    if settings.store_backend == "s3":
        origins.append(_origin(("https://" if settings.s3_secure else "http://") + settings.s3_endpoint))
    return [o for o in origins if o]


def mount_studio(app: FastAPI, prefix: str = "/studio", static_dir: Path = STATIC_DIR) -> None:
    """Serve the studio under `prefix` (`/studio/` → index.html, `/studio/<file>` → the static file)."""
    root = static_dir.resolve()
    security = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    computed: dict[str, str] = {}

    def serve(relative: str) -> Response:
        target = (root / relative).resolve()
        if root not in target.parents and target != root or not target.is_file():
            return Response(status_code=404, content=b"not found", media_type="text/plain")
        media = TYPES.get(target.suffix.lower()) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        # index.html must always be fresh; the modules revalidate (ETag) so a new deployment is picked up
        headers = dict(security)
        if "csp" not in computed:  # on first use: the gateway's settings are on app.state by then
            computed["csp"] = content_security_policy(_store_origins(app))
        headers["Content-Security-Policy"] = computed["csp"]
        headers["Cache-Control"] = "no-cache"
        return FileResponse(target, media_type=media, headers=headers)

    @app.get(prefix, include_in_schema=False)
    async def studio_redirect() -> Response:
        return RedirectResponse(f"{prefix}/", status_code=308)

    @app.get(f"{prefix}/", include_in_schema=False)
    async def studio_index() -> Response:
        return serve("index.html")

    @app.get(prefix + "/{path:path}", include_in_schema=False)
    async def studio_file(path: str) -> Response:
        return serve(path)
