"""`/docs` (Swagger UI) and `/redoc` served whole by keten, so they work without internet.

FastAPI's own pages load Swagger UI and Redoc from a CDN and start Swagger UI with an
inline script: offline they stay blank, and under keten's Content-Security-Policy the
inline script would not run. Here the scripts and styles come from the `fastapi-offline`
package (kept up to date with Swagger UI 5 and Redoc 2, and needing nothing but FastAPI),
the start-up script is keten's own file, and every answer carries the pages' CSP, which
allows nothing from another origin. Redoc's search box is off: it indexes in a worker made
from a `blob:` URL, which that CSP refuses (`worker-src` falls back to `script-src 'self'`);
Swagger UI's operation filter remains.

Policy: `/openapi.json`, `/docs`, `/redoc` and their assets are open (no key). The
document describes routes and shapes and holds no records; its examples are public
reference data. Every route that reads or writes data still needs a key.
"""

from __future__ import annotations

from functools import cache
from html import escape
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import HTMLResponse, Response

from keten.api.pages.assets import Asset
from keten.api.pages.render import HEADERS
from keten.api.problems import ApiProblem

STATIC = "/docs/static"

ASSETS: dict[str, Asset] = {
    "swagger-ui-bundle.js": Asset(
        files("fastapi_offline") / "static" / "swagger-ui-bundle.js", "text/javascript"
    ),
    "swagger-ui.css": Asset(files("fastapi_offline") / "static" / "swagger-ui.css", "text/css"),
    "redoc.standalone.js": Asset(
        files("fastapi_offline") / "static" / "redoc.standalone.js", "text/javascript"
    ),
    "favicon.png": Asset(files("fastapi_offline") / "static" / "favicon.png", "image/png"),
    "swagger-init.js": Asset(
        files("keten.api") / "static" / "docs" / "swagger-init.js", "text/javascript"
    ),
}

SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Swagger UI</title>
<link rel="stylesheet" href="{static}/swagger-ui.css">
<link rel="icon" href="{static}/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{static}/swagger-ui-bundle.js"></script>
<script src="{static}/swagger-init.js"></script>
</body>
</html>
"""

REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · ReDoc</title>
<link rel="icon" href="{static}/favicon.png">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<redoc spec-url="{openapi}" disable-search="true"></redoc>
<script src="{static}/redoc.standalone.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


@cache
def asset_bytes(name: str) -> bytes:
    """The content of a known asset (read once); KeyError for an unknown name."""
    asset = ASSETS[name]
    if not asset.path.is_file():
        raise FileNotFoundError(f"docs asset {name} is missing at {asset.path}")
    return asset.path.read_bytes()


def page(request: Request, template: str) -> HTMLResponse:
    """One of the two pages, its links under the app's root path, with the pages' CSP."""
    root = escape(request.scope.get("root_path", "").rstrip("/"))
    html = template.format(
        title=escape(request.app.title),
        static=root + STATIC,
        openapi=root + escape(request.app.openapi_url or "/openapi.json"),
    )
    return HTMLResponse(html, headers=HEADERS)


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: try the API in the browser (press Authorize and give a key)."""
    return page(request, SWAGGER_PAGE)


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """Redoc: the API reference on one page."""
    return page(request, REDOC_PAGE)


@router.get(STATIC + "/{name}")
def docs_asset(name: Annotated[str, Path(max_length=100)]) -> Response:
    """Swagger UI's and Redoc's scripts and styles (no data; open like the document)."""
    if name not in ASSETS:
        raise ApiProblem(404, "not-found", f"no docs asset {name!r}")
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response(asset_bytes(name), media_type=ASSETS[name].media_type, headers=headers)
