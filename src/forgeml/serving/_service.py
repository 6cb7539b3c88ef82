"""``ws.endpoints``: real-time endpoints with production variants, multi-model variants and capture.

An endpoint is a versioned resource of kind ``endpoint``: each version holds one endpoint config
(``spec``) and runs as its own server process group on ``127.0.0.1:<port>`` (``data``). Status
follows SageMaker::

    create:  Creating -> InService | Failed          (Failed allows only delete)
    update:  InService -> Updating -> InService       (new version; the old one keeps serving
                                                       until the new one is healthy, then it is
                                                       stopped and marked OutOfService; a failed
                                                       update is rolled back)
    delete:  any -> Deleting -> (gone)

A server whose process disappeared is noticed on the next read and marked Failed.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from forgeml.core.jobs import validate_name
from forgeml.core.records import ResourceRecord
from forgeml.core.refs import name_of
from forgeml.errors import (
    AlreadyExistsError,
    BackendUnavailableError,
    ConflictError,
    ForgeError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from forgeml.serving import _process as proc
from forgeml.serving._client import EndpointClient, Invocation
from forgeml.serving._config import EndpointConfig, parse_config
from forgeml.serving._resolve import resolve_variant

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

KIND = "endpoint"
SERVING = ("InService", "Updating")
START_TIMEOUT_SECONDS = 120.0


@dataclass
class _Started:
    handle: dict[str, Any]
    port: int
    runtime_dir: Path
    variants: list[dict[str, Any]] = field(default_factory=list)


class EndpointService:
    """Create, update, invoke and delete real-time endpoints."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.store = workspace.metadata
        self.root = workspace.home / "endpoints"

    # reading ----------------------------------------------------------------------------------
    def get(self, name: str, version: int | None = None) -> ResourceRecord:
        """The endpoint ``name`` refers to (``loans``, ``loans:2``, ``endpoint/loans``; its latest
        version unless the reference or ``version`` names one), with a dead server marked Failed.

        Raises:
            ValidationError: a malformed reference. NotFoundError: no such endpoint or version.
        """
        from forgeml.core.refs import resolve

        return self._reconcile(resolve(self.store, name, KIND, version=version))

    def list(self) -> list[ResourceRecord]:
        """Every endpoint's latest version, newest first."""
        return [self._reconcile(r) for r in self.store.list_resources(KIND, latest_only=True)]

    def versions(self, name: str) -> list[ResourceRecord]:
        """Every version of an endpoint, newest first."""
        name = name_of(name, KIND)
        records = self.store.list_resources(KIND, name=name)
        if not records:
            raise NotFoundError(f"endpoint {name!r} does not exist")
        return [self._reconcile(r) for r in records]

    def serving(self, name: str) -> ResourceRecord:
        """The version that answers invocations now (the newest healthy one).

        Raises:
            NotFoundError: no such endpoint.
            ConflictError: the endpoint is not in service.
        """
        name = name_of(name, KIND)
        latest = self.get(name)
        versions = self.versions(name)
        for record in versions:
            if record.status in SERVING and record.data.get("port"):
                blue = record.data.get("blue_version")  # a blue/green deployment splits traffic
                if blue is not None and random.random() >= float(record.data.get("traffic_share") or 0.0):
                    old = next((r for r in versions if r.version == blue and r.status in SERVING and r.data.get("port")), None)
                    if old is not None:
                        return old
                return record
        raise ConflictError(f"endpoint {name!r} is {latest.status}; invocations need InService")

    def _reconcile(self, record: ResourceRecord) -> ResourceRecord:
        if record.status in SERVING and record.data.get("pid") and not proc.is_running(record.data):
            try:
                return self.store.update_resource(
                    KIND, record.name, record.version, status="Failed", expected_status=[record.status],
                    data={"failure_reason": "the endpoint server exited unexpectedly; see `forgeml endpoints logs`"},
                )  # fmt: skip
            except (ConflictError, NotFoundError):
                return self.store.get_resource(KIND, record.name, record.version)
        return record

    # create / update / delete -------------------------------------------------------------------
    def create(
        self,
        name: str,
        config: dict[str, Any] | EndpointConfig | None = None,
        *,
        variants: list[dict[str, Any]] | None = None,
        data_capture: dict[str, Any] | None = None,
    ) -> ResourceRecord:
        """Create an endpoint and wait until it is InService (or Failed).

        Args:
            name: the endpoint name (letters, digits, hyphens).
            config: an endpoint config (``{"variants": [...], "data_capture": {...}, ...}``);
                or give ``variants`` and ``data_capture`` directly.

        Raises:
            ValidationError: bad name or config, a model that is not a package.
            AlreadyExistsError: an endpoint of that name exists.
            BackendUnavailableError: the server did not start (the endpoint is left Failed).
        """
        validate_name(name, "endpoint name")
        cfg = self._config(config, variants, data_capture)
        if self.store.list_resources(KIND, name=name, limit=1):
            raise AlreadyExistsError(f"endpoint {name!r} already exists; update or delete it")
        resolved = self._resolve(name, 1, cfg)
        try:
            record = self.store.create_resource(
                ResourceRecord(KIND, name, 1, "Creating", spec=cfg.model_dump(mode="json"))
            )
        except BaseException:
            shutil.rmtree(self._dir(name, 1), ignore_errors=True)
            raise
        return self._bring_up(record, cfg, resolved, previous=None)

    def deploy(
        self,
        name: str,
        model: str,
        *,
        variant: str = "AllTraffic",
        workers: int = 1,
        data_capture: dict[str, Any] | None = None,
    ) -> ResourceRecord:
        """Create a one-variant endpoint for ``model`` (a model reference such as ``loans:2`` or
        ``model/loans@champion``, or a package folder such as ``./pkg``)."""
        return self.create(name, variants=[{"name": variant, "model": model, "workers": workers}], data_capture=data_capture)

    def update(
        self, name: str, config: dict[str, Any] | EndpointConfig, *, deployment_config: dict[str, Any] | None = None
    ) -> ResourceRecord:
        """Serve a new config as the next version without dropping traffic.

        Args:
            deployment_config: SageMaker's ``DeploymentConfig`` (blue/green with ALL_AT_ONCE,
                CANARY or LINEAR shifting, bakes, auto-rollback alarms; docs/deployment.md). The
                call returns when the deployment completed (the new version InService) or was
                rolled back (the old version InService, ``data["last_deployment"]`` says why).

        Raises:
            InvalidTransitionError: the endpoint is not InService.
            ValidationError: a bad config or deployment config (nothing changes).
            NotFoundError: a rollback alarm that does not exist (nothing changes).
        """
        from forgeml.serving import _rollout

        name = name_of(name, KIND)
        cfg = parse_config(config)
        current = self.get(name)
        if current.status != "InService":
            raise InvalidTransitionError(f"endpoint {name!r} is {current.status}; update needs InService")
        plan = _rollout.check(self, deployment_config, cfg) if deployment_config is not None else None
        version = current.version + 1
        resolved = self._resolve(name, version, cfg)
        try:
            self.store.update_resource(KIND, name, current.version, status="Updating", expected_status=["InService"])
        except ConflictError:
            shutil.rmtree(self._dir(name, version), ignore_errors=True)
            raise InvalidTransitionError(f"endpoint {name!r} is being changed by someone else") from None
        try:
            record = self.store.create_resource(
                ResourceRecord(KIND, name, version, "Updating", spec=cfg.model_dump(mode="json"))
            )
        except BaseException:
            self.store.update_resource(KIND, name, current.version, status="InService")
            shutil.rmtree(self._dir(name, version), ignore_errors=True)
            raise
        deployment = _rollout.Deployment(self, current, record, *plan) if plan is not None else None
        return self._bring_up(record, cfg, resolved, previous=current, deployment=deployment)

    def deployment(self, name: str) -> ResourceRecord:
        """The endpoint's latest deployment (``endpoints deployment NAME``): its state and each
        step with its times.

        Raises:
            NotFoundError: no such endpoint, or it never had a deployment.
        """
        from forgeml.serving import _rollout

        return _rollout.latest(self, name_of(name, KIND))

    def update_weights(self, name: str, weights: dict[str, float]) -> ResourceRecord:
        """Change the variants' traffic weights without a new version (SageMaker's
        ``UpdateEndpointWeightsAndCapacities``, the A/B testing mechanism). Workers pick the new
        weights up on their next request (checked at most every 0.2 s).

        Raises:
            InvalidTransitionError: the endpoint is not InService.
            ValidationError: an unknown variant, a negative weight, or weights adding up to 0.
        """
        from forgeml.serving._app import WEIGHTS_CHECK_SECONDS

        name = name_of(name, KIND)
        current = self.get(name)
        if current.status != "InService":
            raise InvalidTransitionError(f"endpoint {name!r} is {current.status}; changing weights needs InService")
        known = {v["name"]: float(v["weight"]) for v in current.data.get("variants", []) if not v.get("shadow")}
        known.update(current.data.get("weights") or {})
        unknown = sorted(set(weights) - set(known))
        if unknown:
            raise ValidationError(f"endpoint {name!r} has no variant(s) {', '.join(unknown)} (variants: {', '.join(known)})")
        bad = [n for n, w in weights.items() if not isinstance(w, (int, float)) or w < 0]
        if bad:
            raise ValidationError(f"weights must be numbers >= 0 (variant(s) {', '.join(bad)})")
        merged = {**known, **{n: float(w) for n, w in weights.items()}}
        if sum(merged.values()) <= 0:
            raise ValidationError("the variants' weights must add up to more than 0")
        self.store.update_resource(KIND, name, current.version, status="Updating", expected_status=["InService"])
        try:
            target = Path(current.data["runtime_dir"]) / "weights.json"
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(orjson.dumps(merged))
            tmp.replace(target)
            time.sleep(WEIGHTS_CHECK_SECONDS * 1.5)  # past every worker's next look at the file
        finally:
            record = self.store.update_resource(KIND, name, current.version, status="InService", data={"weights": merged})
        return record

    def delete(self, name: str) -> None:
        """Stop every server of the endpoint and forget it.

        Raises:
            NotFoundError: no such endpoint.
        """
        name = name_of(name, KIND)
        records = self.store.list_resources(KIND, name=name)
        if not records:
            raise NotFoundError(f"endpoint {name!r} does not exist")
        latest = records[0]
        if latest.status != "Deleting":
            self.store.update_resource(KIND, name, latest.version, status="Deleting")
        grace = self.ws.settings.job_stop_grace_seconds
        for record in records:
            proc.stop_server(record.data, grace=min(grace, 5.0))
        self.store.delete_resource(KIND, name)
        shutil.rmtree(self.root / name, ignore_errors=True)
        self.ws.async_inference.forget(name)  # its dispatcher and queued async requests

    # invocations ------------------------------------------------------------------------------
    def invoke(
        self,
        name: str,
        body: bytes | str,
        *,
        content_type: str = "application/json",
        accept: str | None = None,
        target_variant: str | None = None,
        target_model: str | None = None,
        custom_attributes: str | None = None,
        inference_id: str | None = None,
    ) -> Invocation:
        """Invoke the endpoint over HTTP, like ``InvokeEndpoint``.

        Raises:
            ValidationError (400), PayloadTooLargeError (413), UnsupportedMediaTypeError (415/406),
            ModelError (424): as the endpoint answered.
        """
        from forgeml.security._guard import token_headers

        record = self.serving(name)
        verify = _verify(self.ws.settings) if record.data.get("tls") else True
        client = EndpointClient(timeout=self.ws.settings.invocation_timeout_seconds + 5, verify=verify)
        try:
            return client.invoke(
                record.data["url"], body if isinstance(body, bytes) else body.encode(), content_type=content_type,
                accept=accept, target_variant=target_variant, target_model=target_model,
                custom_attributes=custom_attributes, inference_id=inference_id, extra_headers=token_headers(record.data),
            )  # fmt: skip
        finally:
            client.close()

    def logs(self, name: str, version: int | None = None) -> list[str]:
        """The server log of the endpoint (its latest version by default)."""
        record = self.get(name, version)
        path = Path(record.data.get("log") or self._dir(record.name, record.version) / "server.log")
        return path.read_text(errors="replace").splitlines() if path.is_file() else []

    def capture_dir(self, name: str) -> Path:
        """Where the endpoint's captured data lands: ``<dir>/<variant>/yyyy/mm/dd/hh/*.jsonl``."""
        record = self.get(name_of(name, KIND))
        uri = record.data.get("capture_uri")
        if not uri:
            raise NotFoundError(f"endpoint {record.name!r} has no data capture configured")
        return Path(uri)

    # internals --------------------------------------------------------------------------------
    def _config(
        self, config: dict[str, Any] | EndpointConfig | None, variants: list[dict[str, Any]] | None,
        data_capture: dict[str, Any] | None,
    ) -> EndpointConfig:  # fmt: skip
        if config is None:
            if not variants:
                raise ValidationError("give an endpoint config or at least one variant")
            config = {"variants": variants, "data_capture": data_capture}
        return parse_config(config)

    def _dir(self, name: str, version: int) -> Path:
        return self.root / name / f"v{version}"

    def _resolve(self, name: str, version: int, cfg: EndpointConfig) -> list[dict[str, Any]]:
        """Each variant's model as a local folder under the version's runtime folder.

        Raises:
            ValidationError: a model that is neither a package folder nor a registry version.
        """
        from forgeml.security._guard import check_bind

        check_bind(self.ws.settings)  # beyond loopback only with security on
        if cfg.data_capture is not None:  # a network caller names no location for the server to write
            self.ws.access.check_output(cfg.data_capture.destination, "data_capture.destination")
        if cfg.async_inference is not None:
            from forgeml.serving._async_service import check_outputs

            check_outputs(self.ws.access, cfg.async_inference)
        runtime_dir = self._dir(name, version)
        shutil.rmtree(runtime_dir, ignore_errors=True)
        (runtime_dir / "models").mkdir(parents=True)
        trusted = cfg.trusted and self.ws.settings.trusted_model_packages
        try:
            out = [resolve_variant(self.ws, v, runtime_dir / "models", trusted=trusted) for v in cfg.variants]
            for shadow in cfg.shadow_variants:  # loaded by every worker, never chosen for a caller
                entry = resolve_variant(self.ws, shadow, runtime_dir / "models", trusted=trusted)
                entry.update(shadow=True, source_variant=shadow.source_variant or cfg.variants[0].name,
                             sampling_percentage=shadow.sampling_percentage,
                             log_dir=str(self.root / name / "shadow" / shadow.name))  # fmt: skip
                out.append(entry)
            for v, entry in zip(cfg.variants, out, strict=False):
                if v.fallback is not None:
                    entry["fallback"] = v.fallback.model_dump(mode="json")
            return out
        except BaseException:
            shutil.rmtree(runtime_dir, ignore_errors=True)
            raise

    def _bring_up(
        self, record: ResourceRecord, cfg: EndpointConfig, variants: list[dict[str, Any]], previous: ResourceRecord | None,
        deployment: Any = None,
    ) -> ResourceRecord:
        name, version = record.name, record.version
        started: _Started | None = None
        try:
            started = self._start(record, cfg, variants)
        except BaseException as exc:  # the server is stopped already (see _start)
            if isinstance(exc, ForgeError):
                reason = exc.message
            elif isinstance(exc, KeyboardInterrupt):
                reason = "interrupted while starting (Ctrl-C); the server was stopped"
            else:
                reason = f"{type(exc).__name__}: {exc}"
            with proc.interrupts_deferred():  # a second Ctrl-C must not leave a half-written record
                if previous is None:
                    self.store.update_resource(KIND, name, version, status="Failed", data={"failure_reason": reason})
                else:  # roll back: the old version keeps serving
                    self.store.delete_resource(KIND, name, version)
                    shutil.rmtree(self._dir(name, version), ignore_errors=True)
                    self.store.update_resource(KIND, name, previous.version, status="InService")
                if deployment is not None:
                    deployment._finish("Failed", reason=reason)
            if isinstance(exc, (ForgeError, KeyboardInterrupt)) or not isinstance(exc, Exception):
                raise
            raise BackendUnavailableError(f"endpoint {name!r} did not start: {reason}") from exc
        handle = {k: v for k, v in started.handle.items() if not k.startswith("_")}
        data = {
            **handle, "port": started.port, "host": connect_host(self.ws.settings.endpoint_host),
            "url": f"{_scheme(self.ws.settings)}://{connect_host(self.ws.settings.endpoint_host)}:{started.port}",
            "tls": _scheme(self.ws.settings) == "https",
            "workers": cfg.workers, "instance_counts": {v.name: v.workers for v in cfg.variants}, "runtime_dir": str(started.runtime_dir),
            "log": str(started.runtime_dir / "server.log"), "variants": started.variants,
            "capture_uri": str(self._capture_root(cfg) / name) if cfg.data_capture and cfg.data_capture.enabled else None,
        }  # fmt: skip
        if deployment is not None and previous is not None:  # both fleets serve; the deployment shifts, bakes, stops one
            out = self.store.update_resource(KIND, name, version, data={**data, "traffic_share": 0.0, "blue_version": previous.version})
            for v in started.variants:
                if v.get("source_ref"):
                    self.ws.lineage.record(v["source_ref"], out.ref, "deployed")
            deployment.green = out
            return deployment.run()
        out = self.store.update_resource(KIND, name, version, status="InService", data=data)
        edges = [(v["source_ref"], out.ref) for v in started.variants if v.get("source_ref")]
        if previous is not None:
            edges.append((previous.ref, out.ref))
            proc.stop_server(previous.data, grace=5.0)
            self.store.update_resource(KIND, name, previous.version, status="OutOfService")
        for src, dst in edges:
            self.ws.lineage.record(src, dst, "deployed" if not src.startswith(KIND) else "updated")
        return out

    def _capture_root(self, cfg: EndpointConfig) -> Path:
        dest = cfg.data_capture.destination if cfg.data_capture else None
        return Path(dest).expanduser().resolve() if dest else self.ws.home / "capture"

    def _start(self, record: ResourceRecord, cfg: EndpointConfig, variants: list[dict[str, Any]]) -> _Started:
        runtime_dir = self._dir(record.name, record.version)
        settings = self.ws.settings
        capture = None
        if cfg.data_capture is not None and cfg.data_capture.enabled:
            capture = {**cfg.data_capture.model_dump(mode="json"), "destination": str(self._capture_root(cfg))}
        from forgeml.security._guard import runtime_security, write_token
        from forgeml.security._tls import server_options

        runtime = {
            "endpoint": record.name, "version": record.version, "host": settings.endpoint_host, "port": 0,
            "workers": cfg.workers, "variants": [v for v in variants if not v.get("shadow")], "capture": capture,
            "shadows": [v for v in variants if v.get("shadow")],
            "batching": cfg.batching.model_dump(mode="json"),
            "max_payload_bytes": int((cfg.max_payload_mb or settings.max_payload_mb) * 1024 * 1024),
            "timeout_seconds": cfg.invocation_timeout_seconds or settings.invocation_timeout_seconds,
            "metrics_dir": str(runtime_dir / "metrics"), "weights_file": str(runtime_dir / "weights.json"),
            "metrics_publish_seconds": settings.metrics_publish_seconds,
            "security": runtime_security(settings, write_token(runtime_dir)),
            "tls": server_options(settings) or None,  # the same certificate as forgeml server's
        }  # fmt: skip
        runtime_path = runtime_dir / "runtime.json"
        runtime_path.write_bytes(orjson.dumps(runtime, option=orjson.OPT_INDENT_2))
        (runtime_dir / "port").unlink(missing_ok=True)
        handle = proc.start_server(runtime_path, runtime_dir / "server.log", settings.to_env())
        try:
            self.store.update_resource(KIND, record.name, record.version, data=handle)
            port = proc.wait_healthy(
                handle, runtime_dir / "port", START_TIMEOUT_SECONDS, host=connect_host(settings.endpoint_host),
                scheme="https" if runtime["tls"] else "http", verify=_verify(settings) if runtime["tls"] else True,
            )  # fmt: skip
        except BackendUnavailableError as exc:
            with proc.interrupts_deferred():
                proc.stop_server(handle, grace=2.0)
            tail = (runtime_dir / "server.log").read_text(errors="replace").strip().splitlines()[-3:]
            raise BackendUnavailableError(f"{exc.message}: {' | '.join(tail)}" if tail else exc.message) from None
        except BaseException:  # Ctrl-C, or anything else: never leave a server behind
            with proc.interrupts_deferred():
                proc.stop_server(handle, grace=2.0)
            raise
        return _Started(handle, port, runtime_dir, variants)


def _scheme(settings: Any) -> str:
    from forgeml.security._tls import server_options

    return "https" if server_options(settings) else "http"


def _verify(settings: Any) -> Any:
    from forgeml.security._tls import client_verify

    return client_verify(settings)


def connect_host(bind: str) -> str:
    """The address the platform's own callers reach a server bound to ``bind`` at."""
    return "127.0.0.1" if bind in ("0.0.0.0", "::", "", "localhost") else bind.strip("[]")


__all__ = ["EndpointService"]
