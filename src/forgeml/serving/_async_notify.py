"""Success and error webhooks of async endpoints, sent only to hosts the operator allowed.

The body follows SageMaker's async notification (``eventName`` ``InferenceResult`` or
``InferenceError``, ``inferenceId``, ``invocationStatus``, ``responseParameters.outputLocation``
or ``failureReason``). A webhook is posted once, with a 5 s timeout; a refusal or a failed post is
reported in the request's event, never retried and never fails the request.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from forgeml.serving._async_config import MAX_INLINE_BODY_BYTES, NotificationConfig

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

log = logging.getLogger("forgeml.serving.async")
TIMEOUT_SECONDS = 5.0


def webhook_allowed(url: str, allowed: list[str]) -> bool:
    """Whether ``url``'s host (``host`` or ``host:port``) is in ``allowed``."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    with_port = f"{host}:{parts.port}" if parts.port else host
    names = {a.strip().lower() for a in allowed}
    return bool(host) and (host in names or with_port in names)


def notify(ws: Workspace, config: NotificationConfig | None, state: str, data: dict[str, Any], answer: bytes | None) -> str | None:
    """Post the notification for one answered request; what happened, for its event (None: no webhook)."""
    if config is None:
        return None
    url = config.success_webhook if state == "Completed" else config.error_webhook
    if not url:
        return None
    allowed = list(getattr(ws.settings, "allowed_webhook_hosts", []) or [])
    if not webhook_allowed(url, allowed):
        return f"not sent: host of {url!r} is not in allowed_webhook_hosts (FORGEML_ALLOWED_WEBHOOK_HOSTS)"
    body: dict[str, Any] = {
        "eventVersion": "1.0", "eventSource": "forgeml", "eventTime": time.time(),
        "eventName": "InferenceResult" if state == "Completed" else "InferenceError",
        "inferenceId": data["inference_id"], "invocationStatus": state,
    }  # fmt: skip
    if state == "Completed":
        body["responseParameters"] = {"outputLocation": data["output_location"]}
        if config.include_inference_response and answer is not None and len(answer) <= MAX_INLINE_BODY_BYTES:
            body["responseBody"] = {"content": answer.decode("utf-8", errors="replace")}
    else:
        body["failureReason"] = data.get("reason")
        body["responseParameters"] = {"failureLocation": data["failure_location"]}
    import httpx

    try:
        response = httpx.post(url, content=orjson.dumps(body), headers={"Content-Type": "application/json"}, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        log.warning("webhook %s failed: %s", url, exc)
        return f"failed: {type(exc).__name__}"
    return f"sent: HTTP {response.status_code}"


__all__ = ["notify", "webhook_allowed"]
