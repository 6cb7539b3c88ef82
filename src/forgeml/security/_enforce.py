"""Enforcement: the one dependency every REST route runs before its handler.

With ``security_enabled`` off (the default on loopback) it does nothing. With it on, a call
must carry an API key, as ``Authorization: Bearer AKID:SECRET`` or ``X-Forgeml-Key: AKID:SECRET``
(401 without one, or with a bad one), and the policies attached to its principal must allow the
route's action on the route's resource (:data:`~forgeml.security._actions.ROUTE_ACTIONS`; 403
otherwise). A route missing from that table is refused, never let through. Every authenticated
call and every refusal is appended to the audit trail. A principal past its rate limit
(``rate_limit_per_second``, security/_limits.py) is answered 429 with ``Retry-After``.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import Request

from forgeml.errors import ForbiddenError, ThrottlingError, UnauthenticatedError

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace
    from forgeml.security._principals import Principal
    from forgeml.settings import Settings

HEADER = "X-Forgeml-Key"
REQUEST_ID = "X-Request-Id"
ANONYMOUS = "anonymous"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def credential_of(request: Request) -> str | None:
    """The credential a request carries, if any (``Authorization: Bearer`` or ``X-Forgeml-Key``)."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    key = request.headers.get(HEADER.lower())
    return key.strip() if key else None


def request_context(request: Request, principal: Principal | None) -> dict[str, Any]:
    """The condition keys of a request."""
    return {
        "forgeml:SourceIp": request.client.host if request.client else None,
        "forgeml:SecureTransport": "true" if request.url.scheme == "https" else "false",
        "forgeml:PrincipalName": principal.name if principal else None,
        "forgeml:PrincipalType": principal.type if principal else None,
    }


class Enforcer:
    """Authentication, authorization and audit for one workspace's REST app."""

    def __init__(self, ws: Workspace) -> None:
        from forgeml.security._audit import AuditLog
        from forgeml.security._policy import PolicyStore
        from forgeml.security._principals import PrincipalStore

        self.ws = ws
        self.principals = PrincipalStore(ws)
        self.policies = PolicyStore(ws)
        self.audit = AuditLog(ws)

    def check(self, request: Request) -> None:
        """Authenticate and authorize ``request``; audit the outcome.

        Raises:
            UnauthenticatedError: no credential, or not a live key (401).
            ForbiddenError: the principal's policies do not allow the action (403).
        """
        from forgeml.security._actions import PUBLIC, ROUTE_ACTIONS
        from forgeml.security._policy import evaluate
        from forgeml.security._roles import identity_policies

        route = request.scope.get("route")
        method = "GET" if request.method == "HEAD" else request.method
        if (method, getattr(route, "path", "")) in PUBLIC:
            return
        supplied = request.headers.get(REQUEST_ID.lower(), "")
        request_id = supplied if _REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        declared = ROUTE_ACTIONS.get((method, getattr(route, "path", "")))
        action = declared.action if declared else "unknown:Unknown"
        resource = declared.resource_for(dict(request.path_params)) if declared else request.url.path
        source = request.client.host if request.client else ""
        audit = {"action": action, "resource": resource, "source": source, "request_id": request_id}
        credential = credential_of(request)
        if not credential:
            self.audit.append(principal=ANONYMOUS, outcome="Unauthenticated", detail="no credential", **audit)
            raise UnauthenticatedError(f"{action} on {resource}: an API key is required (Authorization: Bearer AKID:SECRET or {HEADER})")
        try:
            principal = self.principals.authenticate(credential, cache_seconds=self.ws.settings.api_key_cache_seconds)
        except UnauthenticatedError as exc:
            key_id = credential.partition(":")[0][:24]
            self.audit.append(principal=f"key:{key_id}", outcome="Unauthenticated", detail=exc.message, **audit)
            raise
        limiter = getattr(request.app.state, "rate_limiter", None)
        if limiter is not None and limiter.enabled:
            try:
                limiter.check(f"principal:{principal.name}", f"{principal.name}")
            except ThrottlingError as exc:
                self.audit.append(principal=principal.name, outcome="Throttled", detail=exc.message, **audit)
                raise
        if declared is None:
            decision_reason = f"route {method} {getattr(route, 'path', request.url.path)} declares no action (refused)"
            allowed = False
        else:
            decision = evaluate(identity_policies(self.ws, principal), action, resource, request_context(request, principal))
            allowed, decision_reason = decision.allowed, decision.reason
        self.audit.append(principal=principal.name, outcome="Allowed" if allowed else "Denied", detail=decision_reason, **audit)
        if not allowed:
            raise ForbiddenError(f"{principal.name} may not {action} on {resource}: {decision_reason}")


def enforce(request: Request) -> None:
    """The FastAPI dependency of every route (installed app-wide by ``create_app``)."""
    ws: Workspace = request.app.state.workspace
    if not ws.settings.security_enabled:
        return
    ws.shared("security.enforcer", lambda: Enforcer(ws)).check(request)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) binds only this machine."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve beyond this machine


def server_settings(settings: Settings) -> Settings:
    """The settings ``forgeml server`` runs with: security on whenever it binds beyond loopback."""
    if settings.security_enabled or is_loopback(settings.host):
        return settings
    return settings.model_copy(update={"security_enabled": True})


def check_can_serve(ws: Workspace) -> None:
    """Refuse to serve a non-loopback address with no live API key (nobody could call it).

    Raises:
        ForbiddenError: naming the address and the commands that make a key.
    """
    from forgeml.security._principals import PrincipalStore

    host = ws.settings.host
    if not is_loopback(host) and not PrincipalStore(ws).any_active_key():
        raise ForbiddenError(
            f"refusing to serve on {host}: security is on beyond loopback and no API key exists "
            "(forgeml auth create-user NAME --policy Admin, then forgeml auth create-key NAME)"
        )
