"""The workspace: settings plus the stores and services built on them.

Services are created on first use from a lazy registry (name -> ``module:Class``), so opening a
workspace imports nothing heavy and ``forgeml --help`` stays fast. Each service class takes the
workspace as its only constructor argument.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from forgeml.settings import Settings, load_settings

if TYPE_CHECKING:
    from forgeml.core.access import Access
    from forgeml.core.artifacts import ArtifactStore
    from forgeml.core.jobs import JobService
    from forgeml.core.lineage import LineageService
    from forgeml.core.metadata import MetadataStore

T = TypeVar("T")

# name -> "module:Class"; every domain package registers its service here.
SERVICES: dict[str, str] = {
    "datasets": "forgeml.data:DatasetService",
    "prep": "forgeml.data:DataPrepService",
    "features": "forgeml.features:FeatureStoreService",
    "training": "forgeml.training:TrainingService",
    "tuning": "forgeml.tuning:TuningService",
    "experiments": "forgeml.experiments:ExperimentService",
    "evaluation": "forgeml.evaluation:EvaluationService",
    "clarify": "forgeml.clarify:ClarifyService",
    "registry": "forgeml.registry:RegistryService",
    "endpoints": "forgeml.serving:EndpointService",
    "transforms": "forgeml.serving:TransformService",
    "idempotency": "forgeml.core.idempotency:IdempotencyService",
    "reports": "forgeml.core.reports:ReportService",
    "monitoring": "forgeml.monitoring:MonitoringService",
    "alarms": "forgeml.alarms:AlarmService",
    "async_inference": "forgeml.serving._async_service:AsyncInferenceService",
    "pipelines": "forgeml.pipelines:PipelineService",
    "rules": "forgeml.rules:RuleService",
    "schedules": "forgeml.rules:ScheduleService",
    "shadow_tests": "forgeml.serving._shadow_test:ShadowTestService",
    "scaling": "forgeml.serving._scaling_service:ScalingService",
}


class Workspace:
    """One ForgeML workspace (``FORGEML_HOME``) and its services.

    Args:
        settings: explicit settings; read from the environment when omitted.
        reconcile: settle jobs whose processes disappeared (done once at start-up).
        migrate: bring the metadata schema up to date on open (job processes skip it: the
            process that submitted them already did).
        access: what callers of this workspace's services may reach on this machine; full
            access (the SDK's and the CLI's) when omitted. See :meth:`with_access`.
    """

    def __init__(
        self, settings: Settings | None = None, *, reconcile: bool = True, migrate: bool = True,
        access: Access | None = None,
    ) -> None:  # fmt: skip
        from forgeml.core.access import LOCAL

        self.settings = settings or load_settings()
        self.access: Access = access or LOCAL
        self._migrate = migrate
        self.home: Path = self.settings.resolved_home
        self.home.mkdir(parents=True, exist_ok=True)
        self._services: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._shared: dict[str, Any] = {}  # shared with views, as is its lock
        self._shared_lock = threading.Lock()
        if reconcile:
            self.jobs.reconcile()

    @cached_property
    def metadata(self) -> MetadataStore:
        from forgeml.core.metadata import SqlMetadataStore

        return SqlMetadataStore(
            self.settings.resolved_database_url,
            busy_timeout_ms=self.settings.sqlite_busy_timeout_ms,
            migrate=self._migrate,
        )

    @cached_property
    def artifacts(self) -> ArtifactStore:
        from forgeml.core.artifacts import ArtifactStore
        from forgeml.security import envelope_for

        return ArtifactStore(self.settings.resolved_artifact_uri, self.metadata, envelope_for(self.settings))

    @cached_property
    def jobs(self) -> JobService:
        from forgeml.core.jobs import JobService

        return JobService(self)

    @cached_property
    def lineage(self) -> LineageService:
        from forgeml.core.lineage import LineageService

        return LineageService(self.metadata)

    def service(self, name: str) -> Any:
        """The named domain service, created on first use.

        Raises:
            KeyError: when no service of that name is registered.
        """
        with self._lock:
            if name not in self._services:
                module_name, _, cls_name = SERVICES[name].partition(":")
                cls = getattr(importlib.import_module(module_name), cls_name)
                self._services[name] = cls(self)
            return self._services[name]

    def shared(self, key: str, factory: Callable[[], T]) -> T:
        """A per-process helper shared by this workspace and its views (``with_access``), made
        by ``factory`` on first use: state such as a write buffer exists once per process."""
        with self._shared_lock:
            if key not in self._shared:
                self._shared[key] = factory()
            value: T = self._shared[key]
            return value

    def with_access(self, access: Access) -> Workspace:
        """This workspace as seen by a caller with ``access`` (the REST API's network callers).

        The view shares the settings, the stores, the job system (one metadata connection per
        process: a second handle on SQLite would drop its locks) and :meth:`shared` helpers, and
        has services of its own, built on the view, so every check they make asks ``access``.
        """
        view = object.__new__(type(self))
        shared = {name: getattr(self, name) for name in ("metadata", "artifacts", "jobs", "lineage")}  # the same handles
        view.__dict__.update({**self.__dict__, **shared, "access": access, "_services": {}, "_lock": threading.Lock()})
        return view

    def __getattr__(self, name: str) -> Any:
        if name in SERVICES:
            return self.service(name)
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def close(self) -> None:
        if "metadata" in self.__dict__:
            self.metadata.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["SERVICES", "Workspace"]
