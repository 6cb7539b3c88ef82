"""The FastAPI application behind ``forgeml server``."""

from __future__ import annotations

import importlib

from fastapi import Depends, FastAPI

from forgeml.api import docs, errors
from forgeml.core.access import Access
from forgeml.core.workspace import Workspace
from forgeml.security._enforce import enforce

# router modules, each exposing ``router``; add a line per resource.
ROUTERS: list[str] = [
    "forgeml.api.jobs",
    "forgeml.api.training",
    "forgeml.api.tuning",
    "forgeml.api.experiments",
    "forgeml.api.lineage",
    "forgeml.api.datasets",
    "forgeml.api.data_prep",
    "forgeml.api.endpoints",
    "forgeml.api.features",
    "forgeml.api.evaluation",
    "forgeml.api.clarify",
    "forgeml.api.models",
    "forgeml.api.transforms",
    "forgeml.api.reports",
    "forgeml.api.bundles",
    "forgeml.api.monitoring",
    "forgeml.api.alarms",
    "forgeml.api.async_invocations",
    "forgeml.api.pipelines",
    "forgeml.api.rules",
    "forgeml.api.monitoring_clarify",
    "forgeml.api.shadow_tests",
    "forgeml.api.scaling",
]


def create_app(workspace: Workspace | None = None) -> FastAPI:
    """Build the app over ``workspace`` (opened from the environment when omitted).

    Handlers get the workspace as a network caller sees it (:meth:`Workspace.with_access` with
    :meth:`Access.network`): no server path, URL, script or entry point the operator did not
    allow (see docs/user-guide.md, "What the REST API may touch").
    """
    base = workspace or Workspace()
    ws = base.with_access(Access.network(base.settings))
    app = FastAPI(
        title="ForgeML",
        version="0.1.0",
        description="The production ML lifecycle on one machine: REST API.",
        docs_url=None,  # served from the package by forgeml.api.docs, not from a CDN
        redoc_url=None,
        dependencies=[Depends(enforce)],  # authentication, policy and audit: docs/security.md
    )
    app.state.workspace = ws
    # the invocation proxy, ahead of FastAPI's routing; added first so that the URL guard and the
    # clean-500 middleware errors.install adds wrap it too
    from forgeml.api.endpoints import InvocationFastPath

    app.add_middleware(InvocationFastPath)
    errors.install(app)
    docs.install(app)
    # request limits, outermost: a body cap on every route, and a token bucket per principal
    # (the enforcer) or per source address while security is off (security/_limits.py)
    from forgeml.security._limits import BodyLimit, RateLimiter

    settings = ws.settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    app.add_middleware(
        BodyLimit, limit=int(settings.api_max_request_mb * 1024 * 1024), limiter=app.state.rate_limiter,
        secured=lambda: ws.settings.security_enabled,
    )  # fmt: skip

    @app.get("/health", tags=["system"], responses=errors.errors())
    def health() -> dict[str, str]:
        return {"status": "ok"}

    for module in ROUTERS:
        app.include_router(importlib.import_module(module).router)
    return app
