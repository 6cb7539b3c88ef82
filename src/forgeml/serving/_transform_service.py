"""Batch transform jobs (``ws.transforms``): SageMaker's CreateTransformJob on local files.

    job = ws.transforms.create("loans:champion", ["data/part-1.csv", "data/part-2.csv"],
                               split_type="Line", batch_strategy="MultiRecord",
                               assemble_with="Line", join_source="Input", wait=True)
    ws.transforms.describe(job.name)["files"]     # one .out per input file, in input order

A transform is a job of kind ``transform`` (``ws.jobs`` lists, stops and reconciles it); the
model's version and the dataset are recorded as its inputs, the output folder as its output.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import new_name, validate_name
from forgeml.core.records import JobRecord
from forgeml.errors import NotFoundError, ValidationError
from forgeml.serving._transform_config import TransformConfig, load_config

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

ENTRYPOINT = "forgeml.serving._transform_job:run"


def resolve_model(ws: Workspace, spec: str) -> tuple[Path, str | None]:
    """A local package folder and its registry ref for a model reference (``loans``, ``loans:2``,
    ``loans@champion``, ``model/loans:2``) or a package folder path (see ``ws.registry.package``).

    Raises:
        NotFoundError: unknown group, version, alias or folder.
        ValidationError: a malformed reference or a folder that is not a package.
    """
    folder, record = ws.registry.package(spec)
    return folder, record.ref if record is not None else None


def pin_model(ws: Workspace, spec: str, *, trusted: bool) -> dict[str, Any]:
    """What a transform job will load, fixed when the job is created.

    ``spec`` is a model reference or a package folder (``ws.registry.package`` decides which). A
    registry reference is pinned to its version (an alias that moves later does not change the
    job); a package folder is copied into the artifact store, so the job loads what was named at
    create time. The package is checked (and, with ``trusted=False``, refused unless it is an
    ONNX model) before the job exists.

    Returns:
        ``{"artifact", "group", "version", "ref", "inputs"}`` (``group``/``version``/``ref`` are
        ``None`` for a folder; ``inputs`` are the package's input column names).

    Raises:
        NotFoundError: unknown group, version, alias or folder.
        ValidationError / CorruptArtifactError: a malformed reference or a corrupted package.
        ForbiddenError: ``trusted`` is False and the package has no ONNX model, or a folder the
            caller may not load (over the network, outside the allowed code roots).
    """
    from forgeml.registry._service import artifact_digests
    from forgeml.registry.package import preflight

    # verified (by its manifest, or the registry's digests) and checked against the caller's access
    folder, record = ws.registry.package(spec, field="model")
    if record is None:
        art = ws.artifacts.put_dir(folder)
        manifest = preflight(folder, trusted=trusted, digests=artifact_digests(ws.artifacts, art.digest), origin=spec)
        return {"artifact": art.digest, "group": None, "version": None, "ref": None, "inputs": manifest.feature_names}
    manifest = preflight(folder, trusted=trusted, digests=ws.registry.digests(record), origin=record.ref)
    return {"artifact": record.spec["package"], "group": record.name, "version": record.version, "ref": record.ref,
            "inputs": manifest.feature_names}  # fmt: skip



def load_pinned(ws: Workspace, pinned: dict[str, Any], workdir: Path, *, threads: int, trusted: bool) -> Any:
    """Load what :func:`pin_model` pinned, every file checked against ForgeML's digests."""
    from forgeml.registry import load_model
    from forgeml.registry._service import artifact_digests

    if pinned.get("group"):
        return ws.registry.load(pinned["group"], int(pinned["version"]), threads=threads, trusted=trusted)
    digest = pinned["artifact"]
    folder = ws.artifacts.get_dir(digest, workdir / "model")
    return load_model(folder, threads=threads, trusted=trusted, digests=artifact_digests(ws.artifacts, digest), origin=f"artifact/{digest}")


class TransformService:
    """Create, list, describe, wait for and stop batch transform jobs."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def create(
        self,
        model: str,
        inputs: list[str | Path] | str | Path | None = None,
        *,
        dataset: str | None = None,
        name: str | None = None,
        output_path: str | Path | None = None,
        wait: bool = False,
        timeout: float | None = None,
        max_runtime_seconds: float | None = None,
        **params: Any,
    ) -> JobRecord:
        """Start a transform job.

        Args:
            model: a model reference (``loans``, ``loans:2``, ``loans@champion``, ``model/loans:2``)
                or a package folder (``./pkg``).
            inputs: input files or folders (each folder's files, sorted); or give ``dataset``.
            dataset: a dataset reference (``loans:3``, ``dataset/loans``) to transform instead of files.
            output_path: folder for the ``.out`` files (default: under the job's folder).
            wait: block until the job ends (raises JobFailedError if it fails).
            params: ``content_type``, ``accept``, ``split_type``, ``batch_strategy``,
                ``max_payload_mb``, ``max_concurrent_transforms``, ``assemble_with``,
                ``input_filter``, ``output_filter``, ``join_source``, ``compression_type``,
                ``environment``; see :class:`TransformConfig`.

        Raises:
            ValidationError: a bad parameter, name or non-empty output folder.
            NotFoundError: the model, an input or the dataset does not exist.
        """
        if isinstance(inputs, (str, Path)):
            inputs = [inputs]
        access = self.ws.access  # a network caller reads only allowed roots and names no output location
        for i, item in enumerate(inputs or []):
            access.check_source(item, f"inputs[{i}]")
        access.check_output(output_path, "output_path")
        access.check_environment(params.get("environment") or {}, "environment")
        name = validate_name(name or new_name("transform"), "transform job name")
        output = Path(output_path) if output_path else self.ws.jobs.workdir(name) / "output"
        config = load_config(
            {"model": str(model), "inputs": [str(p) for p in inputs or []], "dataset": dataset,
             "output_path": str(output.resolve()), **params}
        ).check()  # fmt: skip
        if output.exists() and any(output.iterdir()):
            raise ValidationError(f"output path {output} is not empty")
        config = config.model_copy(update={"trusted": config.trusted and self.ws.settings.trusted_model_packages})
        pinned = pin_model(self.ws, config.model, trusted=config.trusted)
        refs = [pinned["ref"] or f"artifact/{pinned['artifact']}"]
        if config.dataset:
            from forgeml.serving._transform_io import dataset_columns

            dataset = self.ws.datasets.get(config.dataset)
            dataset_columns(config, [c["name"] for c in dataset.data["schema"]], pinned["inputs"])  # refused now, not in the job
            refs.append(dataset.ref)
        else:
            from forgeml.serving._transform_io import input_files

            input_files(config)
        job = self.ws.jobs.submit(
            "transform", ENTRYPOINT, {"transform": config.model_dump(), "package": pinned}, name=name, inputs=refs,
            max_runtime_seconds=max_runtime_seconds,
        )  # fmt: skip
        if wait:
            return self.ws.jobs.wait(job.name, timeout=timeout)
        return job

    def get(self, name: str) -> JobRecord:
        """Raises: NotFoundError when there is no transform job of that name."""
        job = self.ws.jobs.get(name)
        if job.kind != "transform":
            raise NotFoundError(f"job {name!r} is a {job.kind} job, not a transform job")
        return job

    def list(self, *, status: list[str] | None = None, name_contains: str | None = None, limit: int | None = None) -> list[JobRecord]:
        return self.ws.jobs.list(kind="transform", status=status, name_contains=name_contains, limit=limit)

    def config(self, name: str) -> TransformConfig:
        return TransformConfig.model_validate(self.get(name).config["transform"])

    def report(self, name: str) -> dict[str, Any] | None:
        """Per-file results once the job has finished its files (``None`` before)."""
        from forgeml.serving._transform_job import REPORT

        self.get(name)
        file = self.ws.jobs.workdir(name) / REPORT
        return json.loads(file.read_text()) if file.is_file() else None

    def output_file(self, name: str, file: str) -> Path:
        """The local ``.out`` file of one completed input of a finished job, by its file name.

        Raises:
            NotFoundError: no such job, no results yet, or no completed output of that name.
        """
        report = self.report(name)
        for result in (report or {}).get("files", []):
            out = result.get("output")
            if out and result.get("status") == "Completed" and Path(out).name == file and Path(out).is_file():
                return Path(out)
        raise NotFoundError(f"transform job {name!r} has no completed output file {file!r}")

    def describe(self, name: str) -> dict[str, Any]:
        """The job, its transform settings, progress metrics and per-file results."""
        job = self.get(name)
        out = job.to_dict()
        out["transform"] = job.config["transform"]
        out["metrics"] = self.ws.metadata.latest_metrics([job.ref]).get(job.ref, {})
        report = self.report(name)
        out["files"] = report["files"] if report else []
        out["output_path"] = job.config["transform"].get("output_path")
        return out

    def wait(self, name: str, *, timeout: float | None = None, raise_on_failure: bool = True) -> JobRecord:
        self.get(name)
        return self.ws.jobs.wait(name, timeout=timeout, raise_on_failure=raise_on_failure)

    def stop(self, name: str, *, wait: bool = False) -> JobRecord:
        self.get(name)
        return self.ws.jobs.stop(name, wait=wait)

    def progress(self, name: str) -> tuple[float, int]:
        """``(fraction of input bytes done, records done)`` from the job's metrics."""
        job = self.get(name)
        latest = self.ws.metadata.latest_metrics([job.ref]).get(job.ref, {})
        return float(latest.get("progress", 1.0 if job.status == "Completed" else 0.0)), int(latest.get("records", 0))

    def delete_output(self, name: str) -> None:
        """Remove a finished job's output folder."""
        shutil.rmtree(self.config(name).output_path or "", ignore_errors=True)


__all__ = ["ENTRYPOINT", "TransformService", "load_pinned", "pin_model", "resolve_model"]
