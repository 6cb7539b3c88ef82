"""Who may call an endpoint server's own port: the security-group role, credentials, limits.

An endpoint's worker processes listen on a port of their own (``endpoint_host``, loopback by
default), beside the runtime paths ``forgeml server`` proxies. Each request there passes, in
order:

1. **the network allow-list** (``endpoint_allowed_networks``, CIDR; loopback always, since the
   server's own proxy and health probe call from there): any other source gets a 403, ``/ping``
   included;
2. **credentials**, once security is on: either the endpoint's **proxy token** (a random secret
   the service writes, mode 0600, beside the runtime spec; ``forgeml server``'s proxy, the SDK
   on the workspace and the async dispatcher send it, having authorized the caller themselves)
   or an API key whose principal's policies allow ``endpoints:Invoke`` (``endpoints:Read`` for
   ``/metrics`` and ``/models``) on ``endpoint/NAME``; a 401 or 403 otherwise, and every
   decision is appended to the audit trail as the REST API's are;
3. **the rate limit** (``endpoint_rate_limit_per_second``), per principal, or per address with
   security off; calls with the proxy token were limited by ``forgeml server`` already.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import ForbiddenError, ThrottlingError, UnauthenticatedError
from forgeml.security._limits import RateLimiter

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace
    from forgeml.settings import Settings

TOKEN_HEADER = "x-forgeml-proxy-token"
TOKEN_FILE = "proxy.token"


def write_token(runtime_dir: Path) -> Path:
    """A fresh proxy token for one endpoint version's servers, readable by this user only."""
    path = runtime_dir / TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(32))
    return path


def token_headers(data: dict[str, Any]) -> dict[str, str]:
    """The header that lets the platform's own callers through, for an endpoint record's ``data``."""
    runtime_dir = data.get("runtime_dir")
    if not runtime_dir:
        return {}
    try:
        return {TOKEN_HEADER: (Path(runtime_dir) / TOKEN_FILE).read_text().strip()}
    except OSError:
        return {}


def runtime_security(settings: Settings, token_file: Path) -> dict[str, Any]:
    """The ``security`` section of an endpoint's runtime spec."""
    networks = list(settings.endpoint_allowed_networks)
    try:  # the server's own address: the machine's own calls to it come from there
        own = ipaddress.ip_address(settings.endpoint_host.strip("[]"))
        if not own.is_unspecified:
            networks.append(str(own))
    except ValueError:
        pass
    return {
        "enabled": settings.security_enabled, "allowed_networks": networks,
        "rate_per_second": settings.endpoint_rate_limit_per_second, "burst": settings.endpoint_rate_limit_burst,
        "proxy_token_file": str(token_file), "key_cache_seconds": settings.api_key_cache_seconds,
    }  # fmt: skip


def check_bind(settings: Settings) -> None:
    """Refuse to serve an endpoint beyond loopback with security off (anyone could call it).

    Raises:
        ForbiddenError: naming the address and the setting that turns security on.
    """
    from forgeml.security._enforce import is_loopback

    if not settings.security_enabled and not is_loopback(settings.endpoint_host):
        raise ForbiddenError(
            f"refusing to serve endpoints on {settings.endpoint_host}: beyond loopback an endpoint needs "
            "security on (FORGEML_SECURITY_ENABLED=true, and API keys for its callers)"
        )


class EndpointGuard:
    """The checks of one endpoint server's port (see the module's docstring).

    Args:
        endpoint: the endpoint's name.
        security: the runtime spec's ``security`` section (absent: loopback only, no credentials).
        secure: whether the port speaks HTTPS.
    """

    def __init__(self, endpoint: str, security: dict[str, Any] | None, *, secure: bool = False) -> None:
        sec = security or {}
        self.endpoint = endpoint
        self.secure = secure  # the port speaks HTTPS (forgeml:SecureTransport)
        self.enabled = bool(sec.get("enabled"))
        self.networks = [ipaddress.ip_network(n, strict=False) for n in sec.get("allowed_networks", ["127.0.0.1/32"])]
        self.limiter = RateLimiter(float(sec.get("rate_per_second") or 0), int(sec.get("burst") or 0))
        self.cache_seconds = float(sec.get("key_cache_seconds") or 0)
        token_file = sec.get("proxy_token_file")
        self._token = Path(token_file).read_text().strip().encode() if token_file and Path(token_file).is_file() else b""
        self._ws: Workspace | None = None
        self._allowed: dict[str, bool] = {}  # source address -> on the allow-list

    def admits(self, source: str) -> None:
        """Check the network allow-list.

        Raises:
            ForbiddenError: the source address is not on it.
        """
        hit = self._allowed.get(source)
        if hit is None:
            try:
                address = ipaddress.ip_address(source)
                hit = address.is_loopback or any(address in net for net in self.networks)
            except ValueError:
                hit = False
            if len(self._allowed) < 4096:
                self._allowed[source] = hit
        if not hit:
            raise ForbiddenError(f"{source} is not in the allowed networks of endpoint {self.endpoint!r}")

    def proxied(self, headers: dict[str, str]) -> bool:
        """Whether the request carries this endpoint's proxy token."""
        sent = headers.get(TOKEN_HEADER)
        return bool(self._token and sent and hmac.compare_digest(sent.encode(), self._token))

    def needs_principal(self, headers: dict[str, str]) -> bool:
        """Whether :meth:`authorize` has work to do (security on and no proxy token)."""
        return self.enabled and not self.proxied(headers)

    def limit(self, key: str) -> None:
        """Take a rate-limit token for ``key``; raises ThrottlingError (429)."""
        self.limiter.check(key, f"{key.partition(':')[2]} on endpoint {self.endpoint}")

    def authorize(self, headers: dict[str, str], source: str, action: str) -> str:
        """Authenticate, authorize and audit one request (blocking: the metadata store); the
        principal's name.

        Raises:
            UnauthenticatedError (401), ForbiddenError (403), ThrottlingError (429).
        """
        from forgeml.security._enforce import _REQUEST_ID, ANONYMOUS, HEADER
        from forgeml.security._policy import evaluate
        from forgeml.security._roles import identity_policies

        ws = self._workspace()
        principals = ws.shared("security.principals", lambda: _principals(ws))
        audit_log = ws.shared("security.audit", lambda: _audit(ws))
        resource = f"endpoint/{self.endpoint}"
        supplied = headers.get("x-request-id", "")
        request_id = supplied if _REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        audit = {"action": action, "resource": resource, "source": source, "request_id": request_id}
        auth = headers.get("authorization", "")
        credential = auth[7:].strip() if auth[:7].lower() == "bearer " else (headers.get(HEADER.lower()) or "").strip()
        if not credential:
            audit_log.append(principal=ANONYMOUS, outcome="Unauthenticated", detail="no credential", **audit)
            raise UnauthenticatedError(f"{action} on {resource}: an API key is required (Authorization: Bearer AKID:SECRET or {HEADER})")
        try:
            principal = principals.authenticate(credential, cache_seconds=self.cache_seconds)
        except UnauthenticatedError as exc:
            audit_log.append(principal=f"key:{credential.partition(':')[0][:24]}", outcome="Unauthenticated", detail=exc.message, **audit)
            raise
        try:
            self.limit(f"principal:{principal.name}")
        except ThrottlingError as exc:
            audit_log.append(principal=principal.name, outcome="Throttled", detail=exc.message, **audit)
            raise
        context = {"forgeml:SourceIp": source, "forgeml:SecureTransport": "true" if self.secure else "false",
                   "forgeml:PrincipalName": principal.name, "forgeml:PrincipalType": principal.type}  # fmt: skip
        decision = evaluate(identity_policies(ws, principal), action, resource, context)
        audit_log.append(principal=principal.name, outcome="Allowed" if decision.allowed else "Denied", detail=decision.reason, **audit)
        if not decision.allowed:
            raise ForbiddenError(f"{principal.name} may not {action} on {resource}: {decision.reason}")
        return principal.name

    def _workspace(self) -> Workspace:
        if self._ws is None:
            from forgeml.core.workspace import Workspace
            from forgeml.settings import load_settings

            self._ws = Workspace(load_settings(), reconcile=False, migrate=False)
        return self._ws

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()


def _principals(ws: Workspace) -> Any:
    from forgeml.security._principals import PrincipalStore

    return PrincipalStore(ws)


def _audit(ws: Workspace) -> Any:
    from forgeml.security._audit import AuditLog

    return AuditLog(ws)
