"""The model registry (``ws.registry``): groups, immutable integer versions, approval, aliases.

Records: one ``model-package-group/NAME:1`` resource per group (its ``data.aliases`` maps alias ->
version) and one ``model/NAME:N`` resource per version. A version's ``status`` is its
ModelApprovalStatus (so every approval change is a ``StatusChanged`` event), its ``spec`` is
immutable (the package digest, where it came from, the manifest's signature), and its ``data``
holds what may change: approval who/when/why and history, customer metadata, the model card.
Every change also appends a ``ModelPackageStateChange`` event with the details, SageMaker's
EventBridge event of the same name.
"""

from __future__ import annotations

import contextlib
import getpass
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import validate_name
from forgeml.core.records import EventRecord, ResourceRecord, iso
from forgeml.errors import ConflictError, CorruptArtifactError, NotFoundError, ValidationError
from forgeml.registry._approval import (
    APPROVED,
    PENDING,
    REJECTED,
    check_approval_transition,
    check_status,
)
from forgeml.registry.package import (
    MANIFEST,
    LoadedModel,
    load_model,
    loading_notice,
    verify_package,
)

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

GROUP_KIND = "model-package-group"
KIND = "model"
EVENT = "ModelPackageStateChange"
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
RESERVED_ALIASES = ("latest", "approved")


def artifact_digests(artifacts: Any, digest: str) -> dict[str, str]:
    """``{relative path: sha256}`` of a folder stored with ``put_dir`` (its verified manifest)."""
    return {rel: info["digest"] for rel, info in artifacts.read_json(digest)["files"].items()}


def group_name(text: str) -> str:
    """The group a reference names: ``loans``, ``model/loans`` or ``model-package-group/loans``.

    Raises:
        ValidationError: a malformed reference, one to another kind, or one that names a version
            where only a group makes sense.
    """
    from forgeml.core.refs import name_of

    return name_of(text, GROUP_KIND if str(text).startswith(f"{GROUP_KIND}/") else KIND)


def _user(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class RegistryService:
    """Register, approve, alias, download, load, compile and convert model versions."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.store = workspace.metadata

    # groups ----------------------------------------------------------------------------------
    def create_group(self, name: str, *, description: str | None = None, tags: dict[str, str] | None = None) -> ResourceRecord:
        """Create a model package group.

        Raises:
            ValidationError: a bad name.
            AlreadyExistsError: the group exists.
        """
        validate_name(name, "model package group name")
        record = ResourceRecord(GROUP_KIND, name, 1, "Completed", spec={"description": description}, data={"aliases": {}}, tags=tags or {})
        return self.store.create_resource(record)

    def get_group(self, name: str) -> ResourceRecord:
        """The group ``name`` (``loans``, ``model/loans``, ``model-package-group/loans``) refers to.

        Raises:
            ValidationError: a malformed reference. NotFoundError: naming the group.
        """
        name = group_name(name)
        try:
            return self.store.get_resource(GROUP_KIND, name, 1)
        except NotFoundError:
            raise NotFoundError(f"model package group {name!r} does not exist") from None

    def list_groups(self) -> list[ResourceRecord]:
        return self.store.list_resources(GROUP_KIND)

    def _ensure_group(self, name: str) -> ResourceRecord:
        try:
            return self.get_group(name)
        except NotFoundError:
            from forgeml.errors import AlreadyExistsError

            try:
                return self.create_group(name)
            except AlreadyExistsError:
                return self.get_group(name)

    # registering -----------------------------------------------------------------------------
    def register(
        self,
        group: str,
        package: str | Path | None = None,
        *,
        training_job: str | None = None,
        artifact: str | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        model_card: dict[str, Any] | None = None,
        approval_status: str = PENDING,
        by: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> ResourceRecord:
        """Register a package as the next version of ``group`` (created if missing).

        Give exactly one source: ``package`` (a local folder), ``training_job`` (a Completed
        training job's model) or ``artifact`` (the digest of a package folder in the store, or a
        unique prefix of it).

        Raises:
            ValidationError: not exactly one source, or a corrupted / invalid package.
            NotFoundError: the folder, job or artifact does not exist.
            ConflictError: the training job has not completed.
        """
        given = [s for s in (package, training_job, artifact) if s is not None]
        if len(given) != 1:
            raise ValidationError("give exactly one of package (a folder), training_job or artifact")
        group = validate_name(group_name(group) if str(group).startswith(("model/", "model-package-group/")) else group, "model package group name")
        check_status(approval_status)
        with tempfile.TemporaryDirectory(prefix="forgeml-register-") as tmp:
            if package is not None:
                self.ws.access.check_code(package, "path")  # a network caller registers uploads and jobs, not server folders
                folder, source = Path(package), {"kind": "path", "value": str(Path(package).resolve())}
                if not folder.is_dir():
                    raise NotFoundError(f"model package folder {folder} does not exist")
            elif artifact is not None:
                digest = self.ws.artifacts.resolve(artifact)
                folder, source = self._from_artifact(digest, Path(tmp) / "pkg"), {"kind": "artifact", "value": digest}
                self._check_recipe_code(folder)
            else:
                assert training_job is not None
                training_job = self.ws.jobs.get(training_job).name
                folder, source = self._from_job(training_job, Path(tmp) / "pkg"), {"kind": "training_job", "value": training_job}
            return self._register_folder(
                group, folder, source, description=description, metadata=metadata, model_card=model_card,
                approval_status=approval_status, by=by, tags=tags,
            )  # fmt: skip

    def _from_artifact(self, digest: str, dest: Path) -> Path:
        import json

        self.store.get_artifact(digest)
        try:
            manifest = json.loads(self.ws.artifacts.read_bytes(digest))
        except (json.JSONDecodeError, UnicodeDecodeError):
            manifest = None
        if not isinstance(manifest, dict) or MANIFEST not in manifest.get("files", {}):
            raise ValidationError(f"artifact {digest} is not a model package folder")
        return self.ws.artifacts.get_dir(digest, dest)

    def _check_recipe_code(self, folder: Path) -> None:
        """An uploaded package's recipe may import only what the caller could run itself."""
        if self.ws.access.is_local:
            return
        import json

        from forgeml.registry._recipes import load_recipe
        from forgeml.registry.package import read_manifest

        recipe_file = read_manifest(folder).recipe_file
        if not recipe_file:
            return
        file = (folder / recipe_file).resolve()
        if not file.is_relative_to(folder.resolve()) or not file.is_file():
            raise ValidationError(f"package recipe {recipe_file!r} is not a file inside the package")
        try:
            data = json.loads(file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValidationError(f"package recipe {recipe_file!r} is not valid JSON: {exc}") from None
        load_recipe(data).recipe.check_access(self.ws.access, "package recipe")

    def _from_job(self, name: str, dest: Path) -> Path:
        job = self.ws.jobs.get(name)
        if job.status != "Completed":
            raise ConflictError(f"training job {name!r} is {job.status}; only a Completed job's model can be registered")
        try:
            training = self.ws.training
        except (ImportError, AttributeError):
            training = None
        if training is not None and hasattr(training, "model_artifact"):
            try:
                digest = training.model_artifact(name)
            except NotFoundError:
                pass  # a job run outside the training service: look at its outputs instead
            else:
                # from the artifact store (verified), never from a local copy someone could have edited
                return self._from_artifact(digest, dest)
        for ref in reversed(job.outputs):
            if ref.startswith("artifact/"):
                digest = ref.removeprefix("artifact/")
                try:
                    return self._from_artifact(digest, dest)
                except ValidationError:
                    continue
        raise NotFoundError(f"training job {name!r} has no model package among its outputs")

    def _register_folder(
        self,
        group: str,
        folder: Path,
        source: dict[str, Any],
        *,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        model_card: dict[str, Any] | None = None,
        approval_status: str = PENDING,
        by: str | None = None,
        tags: dict[str, str] | None = None,
        extra_data: dict[str, Any] | None = None,
    ) -> ResourceRecord:
        manifest = verify_package(folder)
        art = self.ws.artifacts.put_dir(folder)
        # the registry's own digests of what was stored: every later load is checked against them
        files = artifact_digests(self.ws.artifacts, art.digest)
        self._ensure_group(group)
        entry = {"status": approval_status, "by": _user(by), "at": iso(time.time()), "reason": "registered"}
        spec = {
            "package": art.digest, "source": source, "description": description,
            "flavor": manifest.flavor, "task": manifest.task, "algorithm": manifest.algorithm,
            "inputs": manifest.inputs, "outputs": manifest.outputs(), "classes": manifest.classes,
            "target": manifest.target, "metrics": manifest.metrics, "requirements": manifest.requirements,
            "lineage": manifest.lineage, "compiled": bool(manifest.compiled),
            "files": files, "loading": loading_notice(manifest.flavor),
        }  # fmt: skip
        data = {"package_status": "Completed", "approval": entry, "approval_history": [entry],
                "metadata": dict(metadata or {}), "model_card": model_card, **(extra_data or {})}  # fmt: skip
        record = self.store.create_resource(
            ResourceRecord(KIND, group, status=approval_status, spec=spec, data=data, tags=tags or {}), next_version=True
        )
        self.store.put_artifact(art, owner=record.ref)
        self.ws.lineage.record(f"artifact/{art.digest}", record.ref, "package")
        job = source["value"] if source["kind"] == "training_job" else (
            manifest.lineage.get("training_job") or manifest.extra.get("training_job")
        )
        if job and self._job_exists(job):
            self.ws.lineage.record(f"job/{job}", record.ref, "produced", job=job)
        elif not job:
            for ref in manifest.lineage.get("datasets", []) or []:
                self.ws.lineage.record(str(ref), record.ref, "trained-on")
        self.store.append_event(record.ref, EVENT, {"change": "registered", "to": approval_status, "by": entry["by"], "package": art.digest})
        return record

    def _job_exists(self, name: str) -> bool:
        try:
            self.ws.jobs.get(name)
        except NotFoundError:
            return False
        return True

    # reading ---------------------------------------------------------------------------------
    def get(self, group: str | ResourceRecord, version: int | str | None = None) -> ResourceRecord:
        """One version. ``group`` is any model reference (``loans``, ``loans:3``, ``loans@champion``,
        ``model/loans:3``; see :mod:`forgeml.core.refs`); ``version`` an integer, ``"latest"``/None,
        ``"approved"`` (latest approved) or an alias, which must agree with one in ``group``.

        Raises:
            ValidationError: a malformed reference, or one to another kind.
            NotFoundError: unknown group, version or alias (the message names what exists).
        """
        from forgeml.core.refs import resolve

        return resolve(self.store, group, KIND, version=version)

    def versions(self, group: str, *, approval_status: str | None = None) -> list[ResourceRecord]:
        """Versions of a group, newest first.

        Raises:
            NotFoundError: unknown group.
        """
        group = self.get_group(group).name
        if approval_status is not None:
            check_status(approval_status)
        found = self.store.list_resources(KIND, name=group, status=approval_status)
        return sorted(found, key=lambda r: r.version, reverse=True)

    def aliases(self, group: str) -> dict[str, int]:
        return dict(self.get_group(group).data.get("aliases", {}))

    def describe(self, group: str, version: int | str | None = None) -> dict[str, Any]:
        """A version as a dict, with ``ref`` and the aliases that point at it."""
        record = self.get(group, version)
        out = record.to_dict()
        out["ref"] = record.ref
        out["aliases"] = sorted(a for a, v in self.aliases(record.name).items() if v == record.version)
        return out

    def events(self, group: str, version: int | str | None = None) -> list[EventRecord]:
        """Every event of one version, or of the group and all its versions."""
        from forgeml.core.refs import parse_ref

        if version is not None or parse_ref(group, KIND).selector is not None:
            return self.store.list_events(resource=self.get(group, version).ref)
        refs = [self.get_group(group).ref, *(r.ref for r in self.versions(group))]
        found = [e for ref in refs for e in self.store.list_events(resource=ref)]
        return sorted(found, key=lambda e: e.id)

    # changing --------------------------------------------------------------------------------
    def set_approval(self, group: str, version: int | str | None, status: str, *, by: str | None = None, reason: str | None = None) -> ResourceRecord:
        """Change a version's approval status (see ``forgeml.registry._approval`` for the rules).

        Raises:
            InvalidTransitionError: the change is not allowed from the current status.
        """
        record = self.get(group, version)
        group = record.name
        check_approval_transition(record.ref, record.status, status)
        entry = {"status": status, "by": _user(by), "at": iso(time.time()), "reason": reason}
        history = [*record.data.get("approval_history", []), entry]
        try:
            new = self.store.update_resource(
                KIND, group, record.version, status=status, data={"approval": entry, "approval_history": history},
                expected_status=(record.status,),
            )  # fmt: skip
        except ConflictError:
            latest = self.get(group, record.version)
            check_approval_transition(latest.ref, latest.status, status)
            raise
        dropped = []
        if status == REJECTED:
            aliases = self.aliases(group)
            dropped = sorted(a for a, v in aliases.items() if v == record.version)
            if dropped:
                self.store.update_resource(GROUP_KIND, group, 1, data={"aliases": {a: v for a, v in aliases.items() if a not in dropped}})
        self.store.append_event(new.ref, EVENT, {"change": "approval", "from": record.status, "to": status, "by": entry["by"], "reason": reason, "aliases_removed": dropped})
        return new

    def approve(self, group: str, version: int | str | None = None, *, by: str | None = None, reason: str | None = None) -> ResourceRecord:
        return self.set_approval(group, version, APPROVED, by=by, reason=reason)

    def reject(self, group: str, version: int | str | None = None, *, by: str | None = None, reason: str | None = None) -> ResourceRecord:
        return self.set_approval(group, version, REJECTED, by=by, reason=reason)

    def set_alias(self, group: str, alias: str, version: int | str, *, by: str | None = None) -> dict[str, int]:
        """Point ``alias`` (e.g. ``champion``) at a version; return the group's aliases.

        Raises:
            ValidationError: a bad or reserved alias name.
            InvalidTransitionError: the version is Rejected.
        """
        from forgeml.errors import InvalidTransitionError

        if not isinstance(alias, str) or not _ALIAS.match(alias) or alias in RESERVED_ALIASES:
            raise ValidationError(f"invalid alias {alias!r}: use a letter then letters, digits, '-' or '_' (not {', '.join(RESERVED_ALIASES)})")
        record = self.get(group, version)
        if record.status == REJECTED:
            raise InvalidTransitionError(f"{record.ref} is Rejected and cannot take alias {alias!r}")
        aliases = {**self.aliases(record.name), alias: record.version}
        self.store.update_resource(GROUP_KIND, record.name, 1, data={"aliases": aliases})
        self.store.append_event(record.ref, EVENT, {"change": "alias", "alias": alias, "by": _user(by)})
        return aliases

    def remove_alias(self, group: str, alias: str, *, by: str | None = None) -> dict[str, int]:
        """Raises: NotFoundError when the group has no such alias."""
        group = self.get_group(group).name
        aliases = self.aliases(group)
        if alias not in aliases:
            raise NotFoundError(f"model package group {group!r} has no alias {alias!r}")
        version = aliases.pop(alias)
        self.store.update_resource(GROUP_KIND, group, 1, data={"aliases": aliases})
        self.store.append_event(f"{KIND}/{group}:{version}", EVENT, {"change": "alias-removed", "alias": alias, "by": _user(by)})
        return aliases

    def delete(self, group: str | ResourceRecord, version: int | str | None = None, *, by: str | None = None,
               reason: str | None = None) -> ResourceRecord:  # fmt: skip
        """Delete one model version, keeping its lineage and events.

        The version disappears from ``get``, ``versions`` and every reference (``@latest`` and
        ``@approved`` move to the versions left); its number is never reused; its package is
        released (``artifacts gc`` may reclaim it). Refused while an alias points to it or while
        something uses it: an endpoint being created, serving or updating with it, a job that
        has not ended reading it (a transform job). Nothing changes when it is refused.

        Args:
            group: a model reference naming the version (``loans:3``, ``loans@old``) or a record.
            version: the version, when ``group`` is a bare name.
            by: who deletes it (default: the OS user); reason: why. Both are recorded.

        Returns:
            The tombstone record (status ``Deleted``).

        Raises:
            ValidationError: no version named. NotFoundError: no such version.
            ConflictError: an alias points to it, or something uses it (named).
        """
        from forgeml.core.usage import require_version, retire

        require_version(group, KIND, version)
        record = self.get(group, version)
        aliases = sorted(a for a, v in self.aliases(record.name).items() if int(v) == record.version)
        blockers = [f"alias {a!r} points to it (move it or remove it first)" for a in aliases]
        return retire(self.ws, record, by=_user(by), reason=reason, blockers=blockers)

    def update_metadata(self, group: str, version: int | str | None, metadata: dict[str, Any], *, by: str | None = None) -> ResourceRecord:
        """Merge customer metadata properties into a version (the package itself never changes)."""
        if not isinstance(metadata, dict):
            raise ValidationError("metadata must be a mapping of names to values")
        record = self.get(group, version)
        new = self.store.update_resource(KIND, record.name, record.version, data={"metadata": {**record.data.get("metadata", {}), **metadata}})
        self.store.append_event(new.ref, EVENT, {"change": "metadata", "keys": sorted(metadata), "by": _user(by)})
        return new

    def attach_model_card(self, group: str, version: int | str | None, card: dict[str, Any], *, by: str | None = None) -> ResourceRecord:
        """Attach (or replace) the model card from the evaluation work."""
        if not isinstance(card, dict):
            raise ValidationError("a model card must be a mapping")
        record = self.get(group, version)
        new = self.store.update_resource(KIND, record.name, record.version, data={"model_card": card})
        self.store.append_event(new.ref, EVENT, {"change": "model-card", "by": _user(by)})
        return new

    # using -----------------------------------------------------------------------------------
    def digests(self, record: ResourceRecord) -> dict[str, str]:
        """The registry's sha256 of every file of a version's package (``spec.files``; for
        versions registered before it was recorded, the stored folder's verified manifest)."""
        files = record.spec.get("files")
        return dict(files) if files else artifact_digests(self.ws.artifacts, record.spec["package"])

    def download(self, group: str | ResourceRecord, version: int | str | None = None, dest: str | Path | None = None) -> Path:
        """A verified local copy of a version's package; cached under the workspace by default.

        The cached copy is checked against the registry's digests on every call.

        Raises:
            CorruptArtifactError: the stored package no longer matches its digest, or the cached
                copy was changed after it was downloaded (naming the file).
        """
        record = self.get(group, version)
        if dest is not None:
            dest = Path(dest)
            if dest.exists() and any(dest.iterdir()):
                raise ValidationError(f"{dest} exists and is not empty")
            return self.ws.artifacts.get_dir(record.spec["package"], dest)
        return self._local(record, verify=True)

    @contextlib.contextmanager
    def _cached_copy(self, path: Path) -> Iterator[None]:
        """Say how to recover when the workspace's cached copy of a package was changed."""
        try:
            yield
        except CorruptArtifactError as exc:
            if path.parent != self.ws.home / "cache" / "models" or str(path) not in exc.message:
                raise
            raise CorruptArtifactError(f"{exc.message} (a cached copy: delete {path} to fetch the registered package again)") from None

    def _local(self, record: ResourceRecord, *, verify: bool) -> Path:
        digest: str = record.spec["package"]
        cache = self.ws.home / "cache" / "models" / digest
        if cache.is_dir():
            if verify:
                with self._cached_copy(cache):
                    verify_package(cache, self.digests(record), origin=record.ref)
            return cache
        tmp = cache.with_name(f".{digest}.{uuid.uuid4().hex}")
        self.ws.artifacts.get_dir(digest, tmp)
        try:
            tmp.rename(cache)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
            if verify:
                verify_package(cache, self.digests(record), origin=record.ref)
        return cache

    def package(self, model: str | Path | ResourceRecord, *, field: str = "model") -> tuple[Path, ResourceRecord | None]:
        """A verified local package folder for a model reference or a package folder.

        A string is a registry reference (``loans``, ``loans:3``, ``loans@champion``,
        ``model/loans:3``) unless it reads as a path (``./pkg``, ``/models/pkg``, ``~/pkg``; see
        :func:`forgeml.core.refs.looks_like_path`); a :class:`~pathlib.Path` is always a folder.
        This is the one place a model is looked for as a local folder, so the caller's access is
        checked here (``ws.access.check_code``: loading a package runs its code, so over the
        network only a folder inside an allowed code root); a reference never touches the disk.

        Args:
            model: the reference, folder or model version record.
            field: what to call ``model`` in a refusal (the request field, e.g. ``variants[A].model``).

        Returns:
            ``(folder, the registry version or None for a folder)``.

        Raises:
            ForbiddenError: a folder the caller may not load.
            NotFoundError: no such folder, group, version or alias.
            ValidationError: a folder that is not a (valid) package, or a malformed reference.
        """
        from forgeml.core.refs import looks_like_path

        if isinstance(model, ResourceRecord) or (isinstance(model, str) and not looks_like_path(model)):
            record = self.get(model)
            return self.download(record), record
        if not isinstance(model, str | Path):
            raise ValidationError(f"expected a model reference or a package folder, got {type(model).__name__}")
        self.ws.access.check_code(model, field)  # before the disk is looked at
        folder = Path(model).expanduser()
        if not folder.is_dir():
            raise NotFoundError(f"model package folder {model} does not exist")
        if not (folder / MANIFEST).is_file():
            raise ValidationError(f"{model} is not a model package (no {MANIFEST})")
        verify_package(folder)
        return folder, None

    def load(self, group: str | ResourceRecord, version: int | str | None = None, *, threads: int | None = None, trusted: bool = True) -> LoadedModel:
        """Load a version (number, alias, ``latest`` or ``approved``) for prediction.

        Every file is checked against the digests recorded when the version was registered.
        Pickle-based packages execute code while they load; ``trusted=False`` loads only a
        compiled version's ONNX model and never unpickles anything.

        Raises:
            CorruptArtifactError: a file of the package was changed after registration.
            ForbiddenError: ``trusted=False`` and the version has no ONNX model.
        """
        record = self.get(group, version)
        path = self._local(record, verify=False)  # load_model verifies every file itself
        with self._cached_copy(path):
            return load_model(path, threads=threads, trusted=trusted, digests=self.digests(record), origin=record.ref)

    def compile(
        self,
        group: str,
        version: int | str | None = None,
        *,
        holdout: Any,
        quantize: bool | str = False,
        tolerance: float | None = None,
        description: str | None = None,
        by: str | None = None,
        prune: float | None = None,
        accuracy_tolerance: float | None = None,
    ) -> ResourceRecord:
        """Compile a version to ONNX, check it on ``holdout`` rows, register it as a new version.

        ``quantize``: ``True``/``"dynamic"`` (int8 weights) or ``"static"`` (int8 weights and
        activations, calibrated on the holdout rows). ``prune`` (PyTorch models) zeroes that share of the smallest weights first; with ``prune``
        or ``quantize`` and the target column in ``holdout``, an accuracy drop beyond
        ``accuracy_tolerance`` is refused (see :func:`~forgeml.registry.compile_package`).

        ``holdout`` is a frame, a ``.csv``/``.parquet`` file or a dataset reference. The new
        version's ``data.compilation`` holds the report (deviation, sizes, latencies).

        Raises:
            ValidationError: the model cannot be converted or deviates beyond ``tolerance``.
        """
        from forgeml.registry._compile import compile_package
        from forgeml.registry._frames import read_rows

        record = self.get(group, version)
        group = record.name
        rows = read_rows(self.ws, holdout, "holdout")
        src = self._local(record, verify=False)  # compile_package verifies against the digests
        with tempfile.TemporaryDirectory(prefix="forgeml-compile-") as tmp:
            dest = Path(tmp) / "compiled"
            with self._cached_copy(src):
                report = compile_package(
                    src, dest, rows, quantize=quantize, tolerance=tolerance, lineage={"compiled_from": record.ref},
                    digests=self.digests(record), origin=record.ref, prune=prune, accuracy_tolerance=accuracy_tolerance,
                )  # fmt: skip
            new = self._register_folder(
                group, dest, {"kind": "compiled", "value": record.ref},
                description=description or f"ONNX compilation of {record.ref}" + ((" (statically quantized)" if quantize == "static" else " (quantized)") if quantize else "")
                + (f" (pruned to {prune:g} sparsity)" if prune is not None else ""),
                metadata=record.data.get("metadata"), model_card=record.data.get("model_card"), by=by,
                extra_data={"compilation": report},
            )  # fmt: skip
        self.ws.lineage.record(record.ref, new.ref, "compiled")
        return new

    def export_mlflow(self, group: str, version: int | str | None, dest: str | Path) -> Path:
        """Write a version as an MLflow pyfunc model folder."""
        from forgeml.registry._mlflow import export_mlflow

        return export_mlflow(self.download(group, version), dest)

    def import_mlflow(
        self, src: str | Path, group: str, *, task: str | None = None, description: str | None = None, by: str | None = None
    ) -> ResourceRecord:
        """Register an MLflow model folder (sklearn flavor, a ForgeML export, or any pyfunc)."""
        from forgeml.registry._mlflow import import_mlflow

        group = validate_name(group_name(group) if str(group).startswith(("model/", "model-package-group/")) else group, "model package group name")
        with tempfile.TemporaryDirectory(prefix="forgeml-mlflow-") as tmp:
            dest = Path(tmp) / "pkg"
            import_mlflow(src, dest, task=task)
            return self._register_folder(group, dest, {"kind": "mlflow", "value": str(Path(src).resolve())}, description=description, by=by)


__all__ = ["EVENT", "GROUP_KIND", "KIND", "RegistryService", "artifact_digests", "group_name"]
