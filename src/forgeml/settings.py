"""Every ``FORGEML_*`` setting, in one typed object.

Settings come, in order of precedence, from keyword arguments, ``FORGEML_*`` environment
variables, an optional YAML config file (``FORGEML_CONFIG``, else ``$FORGEML_HOME/config.yaml``
when it exists) and the defaults below. Code receives a :class:`Settings` explicitly; nothing deep
in the package reads the environment.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from forgeml.errors import ValidationError


class Settings(BaseSettings):
    """Typed ForgeML configuration.

    Attributes:
        home: Workspace folder holding the embedded metadata database and artifacts.
        database_url: SQLAlchemy URL of the metadata store; SQLite under ``home`` when unset.
        artifact_uri: fsspec URL or path of the artifact store; ``home/artifacts`` when unset.
        online_store_url: ``sqlite`` (default, under ``home``) or a ``redis://`` URL.
        queue_url: ``sqlite`` (default) or a ``redis://`` URL for async queues.
        execution_backend: ``local`` (one OS process per job) or ``ray``.
        host / port: where ``forgeml server`` binds (loopback by default).
        job_stop_grace_seconds: SIGTERM-to-SIGKILL grace period when stopping a job.
        sqlite_busy_timeout_ms: how long a SQLite writer waits for the lock.
        max_payload_mb / invocation_timeout_seconds: real-time inference limits (SageMaker: 6 MB, 60 s).
        trusted_model_packages: ``False`` makes endpoints and batch transform load only ONNX models
            (compiled packages) and never unpickle a package, whatever a request asks.
        idempotency_ttl_seconds: how long an ``Idempotency-Key`` is remembered (replayed) after its request.
        idempotency_wait_seconds: how long a request waits for another in flight with its key before a 409.
        idempotency_lease_seconds: after this long a claim whose process cannot be checked counts as abandoned.
        sql_timeout_seconds / sql_max_rows / sql_memory_limit: limits of the sandbox that runs SQL
            users write (CustomSQL rules, ``where`` filters, feature-store queries): the time one
            statement may run, the rows a query may return, DuckDB's memory limit.
        allowed_data_roots: folders whose files a request over the network may name as data
            (empty: none; the REST API then takes data only as uploads and dataset references).
        allowed_url_schemes: URL schemes (``s3``, ``postgresql``, ...) a request over the network
            may name as a data source (empty: none).
        allowed_code_roots: folders whose scripts and model packages a request over the network
            may name (empty: none; code then comes from uploaded bundles).
        allowed_entry_points: ``package.module:function`` (or a whole ``package.module``) that a
            request over the network may run as a job entry point or custom recipe step.
        allowed_webhook_hosts: hosts (``host`` or ``host:port``) that webhooks may post to: async
            endpoint notifications, alarm actions and event-rule targets (empty: none). One list
            for all three.
        alarm_webhook_allowed_hosts: the old name of the alarms' list (``FORGEML_ALARM_WEBHOOK_ALLOWED_HOSTS``),
            still read: its hosts are added to ``allowed_webhook_hosts``, and afterwards it is the same list.
        rules_tick_seconds: how often ``forgeml server`` / ``forgeml scheduler`` runs schedules and event rules.
        bundle_max_mb / bundle_max_files: limits of an uploaded source or package archive, both
            as sent and once extracted (against zip bombs).
        security_enabled: every REST route needs an API key and a policy allowing its action
            (docs/security.md); ``forgeml server`` turns it on when it binds beyond loopback.
        api_key_cache_seconds: how long a verified API key secret is remembered in the server's
            memory (as a SHA-256) before its scrypt hash is checked again; 0 checks every request.
        encryption_at_rest: seal artifacts (datasets, model packages, reports), data capture files
            and the PII tokenization key with AES-256-GCM envelope encryption (docs/security.md).
        encryption_key_file: the master key file (mode 0600); ``home/secrets/master-keys.json`` when unset.
        encryption_key_alias: the key alias whose current key seals new data.
        encryption_key_provider: a ``forgeml.key_providers`` entry point holding the master keys instead.
        tls_certfile / tls_keyfile: PEM certificate and key; set both and ``forgeml server`` and
            endpoint servers speak HTTPS only.
        tls_ca_bundle: PEM bundle the SDK and CLI clients verify servers against (system CAs when unset).
        api_max_request_mb: the largest request body the REST API reads, any route (0: no cap;
            uploads and invocations keep their own lower limits).
        rate_limit_per_second / rate_limit_burst: REST API token bucket per principal (per source
            address while security is off); 0 turns it off; burst 0 means ceil(rate). 429 + Retry-After.
        endpoint_rate_limit_per_second / endpoint_rate_limit_burst: the same on each endpoint
            server's own port, per worker process (calls through ``forgeml server`` are limited there).
        endpoint_host: the address endpoint servers bind (loopback by default; anything else
            needs security on).
        endpoint_allowed_networks: client networks (CIDR) an endpoint server answers, the
            security-group role; loopback is always allowed (the server's own proxy and probe).
    """

    model_config = SettingsConfigDict(env_prefix="FORGEML_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path(".forgeml"))
    database_url: str | None = None
    artifact_uri: str | None = None
    online_store_url: str = "sqlite"
    queue_url: str = "sqlite"
    execution_backend: str = "local"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    job_stop_grace_seconds: float = Field(default=10.0, ge=0)
    job_poll_seconds: float = Field(default=0.2, gt=0)
    sqlite_busy_timeout_ms: int = Field(default=60_000, ge=0)
    max_payload_mb: float = Field(default=6.0, gt=0)
    invocation_timeout_seconds: float = Field(default=60.0, gt=0)
    log_level: str = "WARNING"
    trusted_model_packages: bool = True
    idempotency_ttl_seconds: float = Field(default=86_400.0, gt=0)
    idempotency_wait_seconds: float = Field(default=10.0, ge=0)
    idempotency_lease_seconds: float = Field(default=600.0, gt=0)
    sql_timeout_seconds: float = Field(default=30.0, gt=0)
    sql_max_rows: int = Field(default=100_000, ge=1)
    sql_memory_limit: str = "2GB"
    allowed_data_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    allowed_url_schemes: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allowed_code_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    allowed_entry_points: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allowed_webhook_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    bundle_max_mb: float = Field(default=256.0, gt=0)
    bundle_max_files: int = Field(default=10_000, ge=1)
    metrics_publish_seconds: float = Field(default=10.0, gt=0)
    alarm_evaluation_seconds: float = Field(default=10.0, gt=0)
    alarm_webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rules_tick_seconds: float = Field(default=2.0, gt=0)
    security_enabled: bool = False
    api_key_cache_seconds: float = Field(default=60.0, ge=0)
    encryption_at_rest: bool = False
    encryption_key_file: Path | None = None
    encryption_key_alias: str = Field(default="forgeml", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    encryption_key_provider: str | None = None
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    tls_ca_bundle: Path | None = None
    pipeline_driver_seconds: float = Field(default=1.0, gt=0)  # how often forgeml server advances pipeline executions
    api_max_request_mb: float = Field(default=1024.0, ge=0)
    rate_limit_per_second: float = Field(default=0.0, ge=0)
    rate_limit_burst: int = Field(default=0, ge=0)
    endpoint_rate_limit_per_second: float = Field(default=0.0, ge=0)
    endpoint_rate_limit_burst: int = Field(default=0, ge=0)
    endpoint_host: str = "127.0.0.1"
    endpoint_allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["127.0.0.1/32"])
    autoscaling_interval_seconds: float = Field(default=5.0, gt=0)  # forgeml server's scaling loop

    @field_validator(
        "allowed_data_roots", "allowed_url_schemes", "allowed_code_roots", "allowed_entry_points",
        "allowed_webhook_hosts", "alarm_webhook_allowed_hosts", "endpoint_allowed_networks", mode="before",
    )
    @classmethod
    def _list(cls, value: Any) -> Any:
        """A list from YAML, or from a variable holding a JSON list or comma-separated items."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"not a JSON list: {exc.msg}") from None
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _one_webhook_list(self) -> Settings:
        """``alarm_webhook_allowed_hosts`` (the old name) merges into ``allowed_webhook_hosts``."""
        merged = list(dict.fromkeys([*self.allowed_webhook_hosts, *self.alarm_webhook_allowed_hosts]))
        self.allowed_webhook_hosts[:] = merged
        self.alarm_webhook_allowed_hosts = self.allowed_webhook_hosts  # one list under both names
        return self

    @field_validator("allowed_url_schemes")
    @classmethod
    def _schemes(cls, value: list[str]) -> list[str]:
        out = [v.strip().lower() for v in value]
        bad = [v for v in out if not re.fullmatch(r"[a-z][a-z0-9+.-]*", v)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a URL scheme (e.g. s3, postgresql)")
        return out

    @field_validator("allowed_entry_points")
    @classmethod
    def _entry_points(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(r"[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?", v)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not 'package.module:function' or 'package.module'")
        return value

    @field_validator("endpoint_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for v in value:
            try:
                ipaddress.ip_network(v, strict=False)
            except ValueError:
                raise ValueError(f"{v!r} is not an address or CIDR network (e.g. 10.0.0.0/8)") from None
        return value

    @field_validator("execution_backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in {"local", "ray"}:
            raise ValueError(f"unknown execution backend {value!r} (expected 'local' or 'ray')")
        return value

    @property
    def resolved_home(self) -> Path:
        """The workspace folder as an absolute path."""
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """The metadata store URL, defaulting to SQLite inside the workspace."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'forgeml.db'}"

    @property
    def resolved_artifact_uri(self) -> str:
        """The artifact store URL, defaulting to a folder inside the workspace."""
        return self.artifact_uri or str(self.resolved_home / "artifacts")

    def to_env(self) -> dict[str, str]:
        """These settings as ``FORGEML_*`` variables, for child processes."""
        env = {
            "FORGEML_HOME": str(self.resolved_home),
            "FORGEML_DATABASE_URL": self.resolved_database_url,
            "FORGEML_ARTIFACT_URI": self.resolved_artifact_uri,
            "FORGEML_ONLINE_STORE_URL": self.online_store_url,
            "FORGEML_QUEUE_URL": self.queue_url,
            "FORGEML_EXECUTION_BACKEND": self.execution_backend,
            "FORGEML_JOB_STOP_GRACE_SECONDS": str(self.job_stop_grace_seconds),
            "FORGEML_JOB_POLL_SECONDS": str(self.job_poll_seconds),
            "FORGEML_SQLITE_BUSY_TIMEOUT_MS": str(self.sqlite_busy_timeout_ms),
            "FORGEML_SQL_TIMEOUT_SECONDS": str(self.sql_timeout_seconds),
            "FORGEML_SQL_MAX_ROWS": str(self.sql_max_rows),
            "FORGEML_SQL_MEMORY_LIMIT": self.sql_memory_limit,
        }
        env["FORGEML_ENCRYPTION_AT_REST"] = str(self.encryption_at_rest).lower()
        env["FORGEML_ENCRYPTION_KEY_ALIAS"] = self.encryption_key_alias
        for name in ("encryption_key_file", "encryption_key_provider", "tls_certfile", "tls_keyfile", "tls_ca_bundle"):
            value = getattr(self, name)
            if value is not None:
                env[f"FORGEML_{name.upper()}"] = str(Path(value).expanduser().resolve()) if isinstance(value, Path) else value
        return env


def _config_file_values(env: dict[str, str]) -> dict[str, Any]:
    path_text = env.get("FORGEML_CONFIG")
    if path_text:
        path = Path(path_text)
        if not path.is_file():
            raise ValidationError(f"config file {path} (FORGEML_CONFIG) does not exist")
    else:
        path = Path(env.get("FORGEML_HOME", ".forgeml")) / "config.yaml"
        if not path.is_file():
            return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValidationError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"config file {path} must hold a mapping of settings")
    return {str(k): v for k, v in data.items()}


def load_settings(**overrides: Any) -> Settings:
    """Build settings from overrides, the environment and the optional config file.

    Raises:
        ValidationError: when the config file or a value is invalid.
    """
    import pydantic

    file_values = _config_file_values(dict(os.environ))
    env_keys = {k[len("FORGEML_") :].lower() for k in os.environ if k.startswith("FORGEML_")}
    merged = {k: v for k, v in file_values.items() if k not in env_keys}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**merged)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationError(f"invalid setting {where}: {first['msg']}") from None


__all__ = ["Settings", "load_settings"]
