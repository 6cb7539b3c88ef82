"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) served from files shipped in the package, so the
API's documentation works on a machine with no internet access (FastAPI's defaults load both
from a CDN, and the page stays blank offline). The files are under ``static/`` (see its README).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
PREFIX = "/static/api-docs"


def install(app: FastAPI) -> None:
    """Serve the bundled assets under :data:`PREFIX` and the two documentation pages.

    ``app`` must be created with ``docs_url=None, redoc_url=None``.
    """
    app.mount(PREFIX, StaticFiles(directory=STATIC, check_dir=True), name="api-docs-static")
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")  # behind a proxy that mounts the API under a path
        return get_swagger_ui_html(
            openapi_url=root + openapi_url, title=f"{title} - Swagger UI", oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{root}{PREFIX}/swagger-ui/swagger-ui-bundle.js", swagger_css_url=f"{root}{PREFIX}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{root}{PREFIX}/swagger-ui/favicon-32x32.png",
        )  # fmt: skip

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=root + openapi_url, title=f"{title} - ReDoc", redoc_js_url=f"{root}{PREFIX}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{root}{PREFIX}/swagger-ui/favicon-32x32.png", with_google_fonts=False,
        )  # fmt: skip
